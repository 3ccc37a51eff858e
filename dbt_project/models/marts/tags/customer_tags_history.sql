{#-
    customer_profile_history in long form: one row per night, customer and tag with a value
    (null values are left out), the value as text. Tags come from dbt's graph
    (macros/tags.sql). A view: the long form of a night is 47 times the rows of the wide one
    at a million customers, so it is written nowhere.
-#}
{{ config(materialized='view') }}
{%- set columns = tag_columns(graph_tag_models(include_rules=true)) if execute else [] %}

with

history as (
    select * from {{ ref('customer_profile_history') }}
),

final as (
    {%- for column in columns %}
    select
        customer_id,
        '{{ column.tag.category }}' as tag_category,
        '{{ column.name }}' as tag_name,
        cast({{ column.name }} as {{ dbt.type_string() }}) as tag_value,
        as_of_date
    from history
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
    from history
    where false
    {%- endfor %}
)

select * from final
