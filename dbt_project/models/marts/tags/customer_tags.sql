{#-
    The profile in long form: one row per customer and tag with a value (null values are
    left out), the value as text. Tags come from dbt's graph (macros/tags.sql).
-#}
{%- set columns = tag_columns(graph_tag_models(include_rules=true)) if execute else [] %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    {%- for column in columns %}
    select
        customer_id,
        '{{ column.tag.category }}' as tag_category,
        '{{ column.name }}' as tag_name,
        cast({{ column.name }} as {{ dbt.type_string() }}) as tag_value,
        as_of_date
    from profile
    where {{ column.name }} is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        customer_id,
        cast(null as {{ dbt.type_string() }}) as tag_category,
        cast(null as {{ dbt.type_string() }}) as tag_name,
        cast(null as {{ dbt.type_string() }}) as tag_value,
        as_of_date
    from profile
    where false
    {%- endfor %}
)

select * from final
