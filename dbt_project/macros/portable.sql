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
