{#-
    Checks that follow the writes (docs/incremental.md, "Checks of the incremental tables").

    An incremental table keeps most of its rows from night to night, and its uniqueness checks
    read every row: at scale L they cost more than building the table. So each row carries
    `_written_at`, the start of the dbt run that wrote it, and `audit.passed_checks` records,
    per model, the start of the last run in which every data test of the model ran and passed
    (record_passed_checks, an on-run-end hook). A check `since_last_check` then looks only at
    the keys of the rows written after that: the other rows passed it together, and a row that
    is not written again does not change. Only a passing run moves the mark, so rows written
    by a failed or unchecked run stay in the next check's scope; a full refresh writes every
    row again, so it is checked whole.

    On Spark every table is rebuilt whole each night, so the checks read every row and no run
    is recorded.
-#}

{#- The value of `_written_at`: when this dbt invocation started (UTC). dbt's own start time,
    not the `run_started_at` var, which tests pin to the same value in every run. -#}
{% macro written_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{% macro passed_checks_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema='audit', identifier='passed_checks'
    )) }}
{%- endmacro %}

{#- A condition on `model`'s rows: written after its checks last passed. -#}
{% macro written_since_last_check(model) -%}
    {{ return(adapter.dispatch('written_since_last_check', 'scrm')(model)) }}
{%- endmacro %}

{% macro duckdb__written_since_last_check(model) -%}
    _written_at > coalesce(
        (
            select max(checked_through) from {{ passed_checks_relation() }}
            where model_relation = '{{ model.schema }}.{{ model.identifier }}'
        ),
        cast('1900-01-01' as timestamp)
    )
{%- endmacro %}

{% macro default__written_since_last_check(model) -%}
    true
{%- endmacro %}

{#- Whether under a quarter of `model`'s rows were written since its checks last passed (one
    scan of `_written_at`): then a check picks their keys first, else it reads every row. -#}
{% macro few_rows_written_since_last_check(model) -%}
    {{ return(adapter.dispatch('few_rows_written_since_last_check', 'scrm')(model)) }}
{%- endmacro %}

{% macro duckdb__few_rows_written_since_last_check(model) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set counts = run_query(
        "select count(*) filter (where " ~ written_since_last_check(model) ~ "), count(*) "
        ~ "from " ~ model
    ).rows[0] -%}
    {{ return(counts[0] * 4 < counts[1]) }}
{%- endmacro %}

{% macro default__few_rows_written_since_last_check(model) -%}
    {{ return(false) }}
{%- endmacro %}

{#- on-run-start: the log of passed checks exists before any check reads it. -#}
{% macro create_passed_checks() -%}
    {{ return(adapter.dispatch('create_passed_checks', 'scrm')()) }}
{%- endmacro %}

{% macro duckdb__create_passed_checks() -%}
    create schema if not exists audit;
    create table if not exists {{ passed_checks_relation() }} (
        model_relation varchar,
        checked_through timestamp,
        invocation_id varchar
    )
{%- endmacro %}

{% macro default__create_passed_checks() -%}
    select 1
{%- endmacro %}

{#- on-run-end: for each model with a check `since_last_check`, record this run when every
    data test of the model ran in it and passed. A model whose tests were not all selected, or
    of which one failed, warned or errored, keeps its earlier mark. -#}
{% macro record_passed_checks(results) -%}
    {%- if not execute or target.type != 'duckdb' -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set status_by_test = {} -%}
    {%- for result in results if result.node.resource_type == 'test' -%}
        {%- do status_by_test.update({result.node.unique_id: result.status | string}) -%}
    {%- endfor -%}
    {%- set tests_by_model = {} -%}
    {%- set incremental_checks = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'test' and node.attached_node -%}
        {%- do tests_by_model.setdefault(node.attached_node, []).append(node.unique_id) -%}
        {%- if node.test_metadata and (
            node.test_metadata.name == 'unique_since_last_check'
            or node.test_metadata.kwargs.get('since_last_check')
        ) -%}
            {%- do incremental_checks.append(node.attached_node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set passed = [] -%}
    {%- for model_id in incremental_checks | unique -%}
        {%- set statuses = [] -%}
        {%- for test_id in tests_by_model[model_id] -%}
            {%- do statuses.append(status_by_test.get(test_id, 'not run')) -%}
        {%- endfor -%}
        {%- if statuses | reject('equalto', 'pass') | list | length == 0 -%}
            {%- set node = graph.nodes[model_id] -%}
            {%- do passed.append(node.schema ~ '.' ~ (node.alias or node.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not passed -%}
        {{ return('select 1') }}
    {%- endif -%}
    insert into {{ passed_checks_relation() }} (model_relation, checked_through, invocation_id)
    values
    {%- for relation in passed %}
        ('{{ relation }}', {{ written_at() }}, '{{ invocation_id }}'){{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
