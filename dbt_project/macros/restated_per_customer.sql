{#-
    Marts restated per customer (docs/incremental.md, "Marts restated per customer").

    A mart computed per customer from the customer's facts and the night (a lifecycle history:
    the stages a customer entered up to the as-of date) changes from one night to the next
    only for the customers whose facts changed, and for those with a day that turns something
    between the two nights. So it keeps, beside its table, one fingerprint of each customer's
    inputs as of its last build (`audit.<model>__inputs`, written by a post-hook of the same
    transaction), and a night restates only:
    - the customers whose fingerprint differs from the stored one (or is on one side only);
    - the customers with a day that matters (`turning_days`) between the stored night and
      this one, in either direction, so a night rebuilt further back is restated too;
    - every customer, when the fingerprints are not there (a table built before them).
    A restated customer's stored rows are replaced (delete+insert on customer_id); a marker
    row (the customer alone) removes those of a customer with no rows left, and a post-hook
    deletes it. The night's `as_of_date` is set again on every stored row.

    The fingerprint covers what the mart reads of each input, and the vars it reads: a
    change to the mart's SQL needs a full refresh of it, as for the other incremental models.
    On Spark the mart builds as a table (dbt-spark has no delete+insert on plain tables).
-#}

{#- The config of a mart restated per customer: incremental_by_key on `customer_id` (its
    `marker_column` and `night_columns`), whose post-hooks then store the fingerprints.
    `inputs` names the macro that gives one row per customer, `customer_id` and
    `inputs_fingerprint`. -#}
{% macro incremental_per_customer(inputs, marker_column, night_columns={}) %}
    {{- incremental_by_key(
        'customer_id',
        marker_column,
        night_columns=night_columns,
        post_hook=["{{ store_customer_inputs(" ~ inputs ~ "()) }}"],
    ) -}}
{% endmacro %}

{#- Where the fingerprints of the mart's inputs, as of its last build, are kept: in the
    mart's own database (one transaction writes both), in the schema of the pipeline's
    bookkeeping. -#}
{% macro customer_inputs_relation() -%}
    {{ return(api.Relation.create(
        database=this.database, schema='audit', identifier=this.identifier ~ '__inputs'
    )) }}
{%- endmacro %}

{#- Post-hook: the fingerprints of tonight's inputs replace the stored ones. -#}
{% macro store_customer_inputs(inputs_sql) -%}
    create schema if not exists {{ customer_inputs_relation().without_identifier() }};
    create or replace table {{ customer_inputs_relation() }} as {{ inputs_sql }}
{%- endmacro %}

{#- The CTE `restated_customers` (with its trailing comma) when the build is incremental:
    the customers whose inputs changed (`inputs_sql`, as `inputs` above) or who have a day of
    `turning_days_sql` (a query of `customer_id` and `on_date`, if any) between the stored
    night and this one. Nothing in a full build. -#}
{% macro restated_customers_cte(inputs_sql, turning_days_sql=none) %}
    {%- if is_incremental() %}
    {%- set stored = customer_inputs_relation() %}
    {%- set stored_exists = adapter.get_relation(
        database=stored.database, schema=stored.schema, identifier=stored.identifier
    ) is not none %}
    {#- A literal, so that the filter on the turning days reaches each of their sources: as a
        joined value it came after the union of every customer's days (2 s at scale L). #}
    {%- set stored_night = none %}
    {%- if turning_days_sql is not none %}
        {%- set stored_night = stored_value('max(as_of_date)') %}
    {%- endif %}
    restated_customers as (
        with

        tonight as (
            {{ inputs_sql }}
        )

        {% if stored_exists %}
        select coalesce(tonight.customer_id, stored.customer_id) as customer_id
        from tonight
        full outer join {{ stored }} as stored
            on tonight.customer_id = stored.customer_id
        where tonight.inputs_fingerprint is distinct from stored.inputs_fingerprint
        {% else %}
        select customer_id from tonight
        union
        select customer_id from {{ this }}
        {% endif %}

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
