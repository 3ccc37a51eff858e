{#- A post-hook of every model and seed: its built columns and their types, in order, as a
    CSV in $SCRM_BUILT_COLUMNS_DIR, for the Dagster asset's column schema (its YAML declares
    no types). Written by dbt because no other process can open the database while dbt holds
    it, and the asset's events go out as each model finishes. Nothing when the variable is
    unset (dbt run by hand), nor on Spark. -#}
{% macro record_built_columns() -%}
    {%- set folder = env_var('SCRM_BUILT_COLUMNS_DIR', '') if execute else '' -%}
    {%- if folder and target.type == 'duckdb' -%}
        copy (
            select column_name, data_type
            from duckdb_columns()
            where
                database_name = '{{ this.database }}'
                and schema_name = '{{ this.schema }}'
                and table_name = '{{ this.identifier }}'
            order by column_index
        ) to '{{ folder }}/{{ this.database }}.{{ this.schema }}.{{ this.identifier }}.csv'
        (header)
    {%- endif -%}
{%- endmacro %}
