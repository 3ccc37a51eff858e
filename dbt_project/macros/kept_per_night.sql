{#-
    Configures a table that keeps every night by as_of_date: each run replaces its own night
    only, so nights can be rebuilt in any order (delete+insert on DuckDB, partition overwrite
    on Spark). `meta.kept_per_night` tells the publisher to write the table's Parquet one file
    per night, so a night already published is linked, not written again (docs/bi.md). A new
    column is added to the table, null on the nights already kept, rather than ignored: a full
    refresh would drop every night but the one built. After each build the nights older than
    var('history_days_kept') are deleted (prune_kept_nights), and so are the rows of the
    customers in `erasures` (customer_erasures, as Jinja source text rendered at run time;
    the model declares it with `depends_on`, so that its inputs show in its own file): an
    erasure reaches every night kept.
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

{#-
    The statement that deletes the nights of this table kept per night that are
    var('history_days_kept') days or more older than its newest night, so that the nights of
    the last N days stay. Anchored on the newest night kept, not the night built: a backfill of
    an older night deletes nothing newer. Empty (no statement) when the var is null, which
    keeps every night. A night is 77 MB at a million customers (docs/incremental.md).
-#}
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

{#-
    Spark's plain tables take no delete, and its DROP PARTITION takes no comparison: the
    partitions to drop are listed and named.
-#}
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

{#- The statement that deletes the rows of the erased customers from every night kept. Spark's
    plain tables take no delete: there the erased customers leave the nights built after the
    request only (docs/spark.md). -#}
{% macro forget_erased_customers(erasures) -%}
    {{ return(adapter.dispatch('forget_erased_customers', 'scrm')(this, erasures)) }}
{%- endmacro %}

{% macro default__forget_erased_customers(relation, erasures) -%}
    delete from {{ relation }}
    where customer_id in (select customer_id from {{ erasures }})
{%- endmacro %}

{% macro spark__forget_erased_customers(relation, erasures) -%}
{%- endmacro %}
