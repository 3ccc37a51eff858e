{#-
    One row per open-vocabulary tag and value outside its declared known_values, with the
    customers holding it as of the night. Such values are kept in the tags (淘宝 stays 淘宝);
    this table, the catalog and the report show them, and a warning test flags them.
-#}
{%- set columns = open_vocabulary_tag_columns() if execute else [] %}
{%- set text_type = dbt.type_string() %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

{#- One aggregate per open tag: there are few, so the union stays small for Spark's planner. #}
unseen as (
    {%- for column in columns %}
        select
            '{{ column.name }}' as tag_name,
            {{ tag_literal(column.tag.display_name, 'text') }} as display_name,
            cast({{ column.name }} as {{ text_type }}) as tag_value,
            count(*) as customers
        from profile
        where
            {{ column.name }} is not null
            and {{ column.name }} not in (
                {%- for value in column.tag.known_values -%}
                    {{ tag_literal(value, 'text') }}{{ ', ' if not loop.last }}
                {%- endfor -%}
            )
        group by {{ column.name }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- else %}
        select
            cast(null as {{ text_type }}) as tag_name,
            cast(null as {{ text_type }}) as display_name,
            cast(null as {{ text_type }}) as tag_value,
            cast(null as {{ dbt.type_bigint() }}) as customers
        from profile
        where false
    {%- endfor %}
),

final as (
    select
        tag_name,
        display_name,
        tag_value,
        customers,
        {{ as_of_date() }} as as_of_date
    from unseen
)

select * from final
