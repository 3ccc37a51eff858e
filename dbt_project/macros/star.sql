{#-
    Every column of a relation except some, as an explicit list (portable: Spark has no
    `select * exclude`). A small local version of dbt_utils.star, which we cannot install.
-#}
{% macro star(relation, except=[], relation_alias=none) -%}
    {%- if not execute -%}
        {{ return('*') }}
    {%- endif -%}
    {%- set excluded = except | map('lower') | list -%}
    {%- set names = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- if column.name | lower not in excluded -%}
            {%- do names.append(
                (relation_alias ~ '.' if relation_alias else '') ~ adapter.quote(column.name)
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not names -%}
        {#- Compiling without a built warehouse (linting, docs): any list will do. -#}
        {{- return((relation_alias ~ '.' if relation_alias else '') ~ '*') -}}
    {%- endif -%}
    {{- return(names | join(',\n        ')) -}}
{%- endmacro %}
