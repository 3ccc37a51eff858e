{#- One row per segment: its YAML declaration and settings (the registry `scrm prepare` writes). -#}
{%- set settings = registered_segment_settings() %}
{%- set declarations = registered_segment_declarations() %}

with

catalog as (
    {%- for name, setting in settings.items() %}
    {%- set declared = declarations[name] %}
    select
        '{{ name }}' as segment_name,
        {{ _segment_text(declared.get('display_name', name)) }} as display_name,
        {{ _segment_text(declared.get('owner')) }} as segment_owner,
        {{ _segment_text(declared.get('wecom_tag')) }} as wecom_tag,
        {{ setting.priority if setting.priority is not none else 'cast(null as integer)' }}
        as segment_priority,
        {{ 'true' if setting.exclusive else 'false' }} as is_exclusive,
        cast({{ setting.holdout_share }} as double) as holdout_share
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as {{ dbt.type_string() }}) as display_name,
        cast(null as {{ dbt.type_string() }}) as segment_owner,
        cast(null as {{ dbt.type_string() }}) as wecom_tag,
        cast(null as integer) as segment_priority,
        false as is_exclusive,
        cast(null as double) as holdout_share
    where false
    {%- endfor %}
)

select * from catalog
