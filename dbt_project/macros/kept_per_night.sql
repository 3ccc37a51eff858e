{#-
    Configures a table that keeps every night by as_of_date: each run replaces its own night
    only, so nights can be rebuilt in any order (delete+insert on DuckDB, partition overwrite
    on Spark).
-#}
{% macro kept_per_night() -%}
    {{ config(
        materialized='incremental',
        incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
        unique_key=(none if target.type == 'spark' else 'as_of_date'),
        partition_by=(['as_of_date'] if target.type == 'spark' else none),
    ) }}
{%- endmacro %}
