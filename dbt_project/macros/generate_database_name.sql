{#- A model's own database (`pipeline` for staging and intermediate) is a file DuckDB attaches
    (profiles.yml). Spark has one catalog and refuses a database: there, every model is in the
    target's. -#}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {%- if target.type == 'duckdb' -%}
        {{ return(default__generate_database_name(custom_database_name, node)) }}
    {%- else -%}
        {{ return(default__generate_database_name(none, node)) }}
    {%- endif -%}
{%- endmacro %}
