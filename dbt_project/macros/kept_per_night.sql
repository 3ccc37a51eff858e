{#-
    Configures a table that keeps every night by as_of_date: each run replaces its own night
    only, so nights can be rebuilt in any order (delete+insert on DuckDB, partition overwrite
    on Spark). `meta.kept_per_night` tells the publisher to write the table's Parquet one file
    per night, so a night already published is linked, not written again (docs/bi.md). A new
    column is added to the table, null on the nights already kept, rather than ignored: a full
    refresh would drop every night but the one built.
-#}
{% macro kept_per_night() -%}
    {{ config(
        materialized='incremental',
        incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
        unique_key=(none if target.type == 'spark' else 'as_of_date'),
        partition_by=(['as_of_date'] if target.type == 'spark' else none),
        on_schema_change='append_new_columns',
        meta={'kept_per_night': true},
    ) }}
{%- endmacro %}
