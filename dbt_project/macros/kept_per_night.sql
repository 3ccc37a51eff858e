{#-
    A table that keeps every night by as_of_date: a run replaces its own night only, so nights
    can be rebuilt in any order. `meta.kept_per_night` has the publisher write a Parquet file
    per night (docs/bi.md). A new column is added, null on the nights kept, since a full
    refresh would drop them. After each build the nights past var('history_days_kept') go,
    and so do the rows of the customers in `erasures` (Jinja text rendered at run time; the
    model declares it with `depends_on`).
-#}
{% macro kept_per_night(erasures) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
        unique_key=(none if target.type == 'spark' else 'as_of_date'),
        partition_by=(['as_of_date'] if target.type == 'spark' else none),
        on_schema_change='append_new_columns',
        post_hook=[
            '{{ prune_kept_nights() }}',
            "{{ forget_erased_customers(" ~ erasures ~ ") }}",
        ],
        meta={'kept_per_night': true},
    ) }}
{%- endmacro %}

{#- Deletes the nights var('history_days_kept') days or more older than the newest night
    kept (not the night built: a backfill deletes nothing newer); nothing when the var is
    null. -#}
{% macro prune_kept_nights() -%}
    {%- set days = var('history_days_kept', none) -%}
    {%- if days is none or not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set fewest = var('segment_push_cooldown_days') + 1 -%}
    {%- if days is not number or days < fewest -%}
        {{ exceptions.raise_compiler_error(
            "var history_days_kept is " ~ days ~ ": it must be null (keep every night) or a "
            ~ "whole number of days, at least " ~ fewest ~ " (segment_push_cooldown_days + 1: "
            ~ "segment_membership reads the pushes of that many nights back)"
        ) }}
    {%- endif -%}
    {{ return(adapter.dispatch('prune_kept_nights', 'scrm')(this, days | int)) }}
{%- endmacro %}

{% macro default__prune_kept_nights(relation, days) -%}
    delete from {{ relation }}
    where as_of_date <= {{ add_days('(select max(as_of_date) from ' ~ relation ~ ')', -days) }}
{%- endmacro %}

{#- Spark's plain tables take no delete, and DROP PARTITION no comparison: the partitions
    are listed and named. -#}
{% macro spark__prune_kept_nights(relation, days) -%}
    {%- set nights = [] -%}
    {%- for row in run_query('show partitions ' ~ relation) -%}
        {%- do nights.append(modules.datetime.date.fromisoformat(row[0].split('=')[1])) -%}
    {%- endfor -%}
    {%- if nights -%}
        {%- set cutoff = (nights | max) - modules.datetime.timedelta(days=days) -%}
        {%- set old = nights | select('le', cutoff) | list -%}
        {%- if old -%}
            alter table {{ relation }} drop if exists
            {%- for night in old %}
                partition (as_of_date = '{{ night.isoformat() }}'){{ ',' if not loop.last }}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Deletes the erased customers' rows from every night kept. Spark's plain tables take no
    delete: there they leave only the nights built after the request (docs/spark.md). -#}
{% macro forget_erased_customers(erasures) -%}
    {{ return(adapter.dispatch('forget_erased_customers', 'scrm')(this, erasures)) }}
{%- endmacro %}

{% macro default__forget_erased_customers(relation, erasures) -%}
    delete from {{ relation }}
    where customer_id in (select customer_id from {{ erasures }})
{%- endmacro %}

{% macro spark__forget_erased_customers(relation, erasures) -%}
{%- endmacro %}
