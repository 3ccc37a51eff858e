{#-
    Every SQL tag model side by side, one row per known customer: the columns rule tags may
    use. The tag models and their columns come from dbt's graph (macros/tags.sql).
-#}
{#- A dependency on every registered tag model (refs at parse time). #}
{%- for model_name in registered_tag_models() %}
-- depends_on: {{ ref(model_name) }}
{%- endfor %}
{{ check_tag_registry() }}
{%- set columns = tag_columns(graph_tag_models()) if execute else [] %}
{%- set tag_selects = [] %}
{%- for column in columns %}
    {%- do tag_selects.append(column.model ~ '.' ~ column.name) %}
{%- endfor %}

with

customers as (
    select customer_id from {{ ref('dim_customers') }}
),

final as (
    select
        {{ (['customers.customer_id'] + tag_selects) | join(',\n        ') }}
    from customers -- noqa: LT02
    {%- for model_name in registered_tag_models() %}
        left join {{ ref(model_name) }} as {{ model_name }}
            on customers.customer_id = {{ model_name }}.customer_id
    {%- endfor %}
)

select * from final
