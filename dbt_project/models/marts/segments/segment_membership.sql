{#-
    Every night's members of every exported segment (models/segments/ with meta.segment),
    kept by as_of_date; a rebuilt night replaces its own rows only.
-#}
{{ kept_per_night() }}
{{ check_segment_registry() }}

with

members as (
    {%- for segment in registered_segment_models() %}
    select
        '{{ segment }}' as segment_name,
        customer_id
    from {{ ref(segment) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as {{ dbt.type_string() }}) as customer_id
    where false
    {%- endfor %}
),

final as (
    select
        segment_name,
        customer_id,
        {{ as_of_date() }} as as_of_date
    from members
)

select * from final
