{#- Marts restated per customer (docs/incremental.md, "Marts restated per customer"). -#}

{#- The CTE `restated_customers` (with its trailing comma) in an incremental build: the
    customers `inputs` (the mart's inputs model) wrote after the mart's latest write, or with
    a day of `turning_days_sql` (`customer_id`, `on_date`) between the stored night and this
    one, either way round. -#}
{% macro restated_customers_cte(inputs, turning_days_sql=none) %}
    {%- if is_incremental() %}
    {#- A literal, so that the filter reaches the scan of the days. #}
    {%- set stored_night = none %}
    {%- if turning_days_sql is not none %}
        {%- set stored_night = stored_value('max(as_of_date)') %}
    {%- endif %}
    restated_customers as (
        select customer_id from {{ inputs }}
        where _written_at > {{ stored_latest_write() }}
        {%- if stored_night is not none %}

        union

        select turning_days.customer_id
        from ({{ turning_days_sql }}) as turning_days
        where
            turning_days.on_date > least(cast('{{ stored_night }}' as date), {{ as_of_date() }})
            and turning_days.on_date
            <= greatest(cast('{{ stored_night }}' as date), {{ as_of_date() }})
        {%- endif %}
    ),
    {%- endif %}
{% endmacro %}

{#- A condition on an input's rows: its customer is restated (always true in a full build). -#}
{% macro is_restated(customer_id='customer_id') -%}
    {%- if is_incremental() -%}
        {{ customer_id }} in (select customer_id from restated_customers)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- A marker row per restated customer (every other column null): it replaces the rows of
    one who has none left. -#}
{% macro restated_customer_markers() -%}
    {%- if is_incremental() %}
    union all by name
    select customer_id from restated_customers
    {%- endif %}
{%- endmacro %}
