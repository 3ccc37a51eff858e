{#-
    Checks that follow the writes (docs/incremental.md, "Checks of the incremental tables"):
    a check `since_last_check` reads only the keys of the rows written after the last run in
    which every test of the model passed (`audit.passed_checks`). On Spark every table is
    rebuilt whole, so checks read every row and no run is recorded.
-#}

{#- The value of `_written_at`: when this dbt invocation started (UTC), not the pinned
    `run_started_at` var, the same in every run of a test. -#}
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

{#- Whether under a quarter of `model`'s rows were written since its checks last passed: then
    a check picks their keys first, else it reads every row. -#}
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

{#- on-run-end: record this run for each model with a check `since_last_check` whose every
    data test ran in it and passed; any other keeps its earlier mark. -#}
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
