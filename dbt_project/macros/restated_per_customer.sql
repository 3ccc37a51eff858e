{#-
    Marts restated per customer (docs/incremental.md, "Marts restated per customer").

    A mart computed per customer from the customer's facts and the night (a lifecycle history:
    the stages a customer entered up to the as-of date) changes from one night to the next
    only for the customers whose facts changed, and for those with a day that turns something
    between the two nights. Its inputs model (`audit.<mart>_inputs`) writes a customer again
    whenever the fingerprint of what the mart reads of them changes, so a night restates:
    - the customers the inputs model wrote after the mart's latest write;
    - the customers with a day that matters (`turning_days`) between the stored night and
      this one, in either direction, so a night rebuilt further back is restated too.
    A restated customer's stored rows are replaced (delete+insert on customer_id, with
    incremental_by_key); a marker row (the customer alone) removes those of a customer with no
    rows left. The night's `as_of_date` is set again on every stored row.

    The fingerprint covers what the mart reads of each input, and the vars it reads: a
    change to the mart's SQL needs a full refresh of it, as for the other incremental models.
    On Spark the mart builds as a table (dbt-spark has no delete+insert on plain tables).
-#}

{#- The CTE `restated_customers` (with its trailing comma) when the build is incremental:
    the customers `inputs` (the mart's inputs model) wrote after the mart's latest write, or
    who have a day of `turning_days_sql` (a query of `customer_id` and `on_date`, if any)
    between the stored night and this one. Nothing in a full build. -#}
{% macro restated_customers_cte(inputs, turning_days_sql=none) %}
    {%- if is_incremental() %}
    {#- Literals, so that the filters reach the scans: as a joined value the stored night came
        after the union of every customer's days (2 s at scale L). #}
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

{#- The marker rows, one per restated customer, appended to the mart's rows (every other
    column null): they make the delete+insert replace a customer who has no rows left. -#}
{% macro restated_customer_markers() -%}
    {%- if is_incremental() %}
    union all by name
    select customer_id from restated_customers
    {%- endif %}
{%- endmacro %}
