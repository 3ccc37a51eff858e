{#-
    SQL that engines spell differently and dbt's cross-database macros do not cover (or cover
    without what we need). Each dispatches: a default, and a variant per engine that differs.
-#}

{#-
    The values of `measure` in a group, in ascending order, joined by `delimiter` (a SQL
    string literal); nulls are skipped. dbt.listagg ignores its order by on Spark, so
    Spark sorts the collected values instead.
-#}
{% macro sorted_listagg(measure, delimiter) -%}
    {{ return(adapter.dispatch('sorted_listagg', 'scrm')(measure, delimiter)) }}
{%- endmacro %}

{% macro default__sorted_listagg(measure, delimiter) -%}
    {{ dbt.listagg(measure, delimiter, 'order by ' ~ measure) }}
{%- endmacro %}

{% macro spark__sorted_listagg(measure, delimiter) -%}
    array_join(array_sort(collect_list({{ measure }})), {{ delimiter }})
{%- endmacro %}

{#- The digits of a text, every other character removed: DuckDB's regexp_replace replaces
    the first match unless told 'g', Spark's every match. -#}
{% macro digits_only(text) -%}
    {{ return(adapter.dispatch('digits_only', 'scrm')(text)) }}
{%- endmacro %}

{% macro default__digits_only(text) -%}
    regexp_replace({{ text }}, '[^0-9]', '', 'g')
{%- endmacro %}

{% macro spark__digits_only(text) -%}
    regexp_replace({{ text }}, '[^0-9]', '')
{%- endmacro %}

{#- A CTE that is read more than once (fingerprinted narrow, then filtered by key; or one night
    of a table at a time) is better computed again than stored once with every column: DuckDB
    materializes a CTE read twice unless told not to. Engines that always inline CTEs need
    nothing. -#}
{% macro inlined_cte() -%}
    {{ return(adapter.dispatch('inlined_cte', 'scrm')()) }}
{%- endmacro %}

{% macro duckdb__inlined_cte() -%}not materialized{%- endmacro %}

{% macro default__inlined_cte() -%}{%- endmacro %}

{#- Configures a model whose query compares many columns at once (a wide row against another)
    to be planned without Spark's constraint propagation, which multiplies the constraints of
    every alias and filter: tag_changes ran its driver out of memory while planning. The
    setting is reset after the model. Other engines need nothing. -#}
{% macro plan_wide_comparison() -%}
    {%- if target.type == 'spark' -%}
        {{ config(
            pre_hook='set spark.sql.constraintPropagation.enabled = false',
            post_hook='reset spark.sql.constraintPropagation.enabled',
        ) }}
    {%- endif -%}
{%- endmacro %}

{#- A 64-bit hash of one row's `columns` (SQL expressions), nulls included. -#}
{% macro row_fingerprint(columns) -%}
    {{ return(adapter.dispatch('row_fingerprint', 'scrm')(columns)) }}
{%- endmacro %}

{% macro default__row_fingerprint(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__row_fingerprint(columns) -%}
    xxhash64({{ columns | join(', ') }})
{%- endmacro %}

{#- An order-independent fingerprint of a group's rows: the sum of their 64-bit hashes (as a
    decimal on Spark, whose sum of bigints fails on overflow). -#}
{% macro rows_fingerprint(columns) -%}
    {{ return(adapter.dispatch('rows_fingerprint', 'scrm')(columns)) }}
{%- endmacro %}

{% macro default__rows_fingerprint(columns) -%}
    sum({{ row_fingerprint(columns) }})
{%- endmacro %}

{% macro spark__rows_fingerprint(columns) -%}
    sum(cast({{ row_fingerprint(columns) }} as decimal(38, 0)))
{%- endmacro %}
