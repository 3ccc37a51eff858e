{#-
    One row per known customer (a person), their ids, and every tag a column: the SQL tag
    models and the rule tags, in category order. Tag columns come from dbt's graph
    (macros/tags.sql), never from a list.
-#}
{{ check_tag_registry() }}
{%- set columns = tag_columns(graph_tag_models(include_rules=true)) if execute else [] %}

with

base as (
    select * from {{ ref('tag_profile_base') }}
),

rules as (
    select * from {{ ref('tag_rules') }}
),

-- Every id of the person, for finding them in the shop, WeChat or WeCom (docs/identity.md).
customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        base.customer_id,
        customers.known_ids,
        {%- for column in columns %}
            {{ 'rules' if column.model == 'tag_rules' else 'base' }}.{{ column.name }},
        {%- endfor %}
        {{ as_of_date() }} as as_of_date
    from base
    left join rules
        on base.customer_id = rules.customer_id
    left join customers
        on base.customer_id = customers.customer_id
)

select * from final
