{#-
    The profile in long form, every night kept: one row per customer and tag with a value
    (null values are left out), the value as text. Tags come from dbt's graph
    (macros/tags.sql). A rebuilt night replaces its own rows only, so nights can be rebuilt in
    any order. `_written_at` lets the publisher find the nights written since it last
    published without hashing every night kept (docs/bi.md). customer_tags is the night built.
-#}
{{ kept_per_night() }}
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

select
    customer_id,
    tag_category,
    tag_name,
    tag_value,
    as_of_date,
    {{ written_at() }} as _written_at
from final
