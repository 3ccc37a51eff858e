{#-
    Row accounting helpers shared by the staging models. Every raw row ends up exactly one of:
    an exact duplicate (an identical earlier row exists), superseded (a later version of its
    key replaced it), erased (a row of a customer erased on request), quarantined
    (quarantine_reason set), or clean.
-#}

{#- The contract columns of a raw source, in file order, from the sources YAML. -#}
{% macro raw_contract_columns(table_name) %}
    {%- if not execute -%}
        {{- return(['_raw_row_number']) -}}  {#- the graph is only filled at execution -#}
    {%- endif -%}
    {%- set loader_columns = ['_raw_row_number', '_source_file', '_loaded_at', '_delivered_on'] -%}
    {%- set node = (graph.get('sources') or {}).get(
        'source.' ~ project_name ~ '.raw.' ~ table_name
    ) -%}
    {%- if node is not none -%}
        {%- set candidates = node.columns.values() | map(attribute='name') | list -%}
    {%- else -%}
        {#- Unit tests render without the graph (and with source() pointing at fixtures):
            read the loaded raw table's columns instead. -#}
        {%- set relation = adapter.get_relation(
            database=target.database, schema='raw', identifier=table_name
        ) -%}
        {%- if relation is none -%}
            {{ exceptions.raise_compiler_error('raw.' ~ table_name ~ ' is not loaded') }}
        {%- endif -%}
        {%- set candidates = adapter.get_columns_in_relation(relation)
            | map(attribute='name') | list -%}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for name in candidates if name not in loader_columns -%}
        {%- do names.append(name) -%}
    {%- endfor -%}
    {{- return(names) -}}
{% endmacro %}

{#- True for every copy of a raw row after the first (all contract columns identical): in the
    same delivery for a source of versions (`per_delivery`), where a later delivery of the
    same row is a new version; anywhere for a source of events. -#}
{% macro exact_duplicate_flag(table_name, per_delivery=false) -%}
    {%- set columns = (['_source_file'] if per_delivery else []) + raw_contract_columns(table_name) -%}
    row_number() over (
        partition by {{ columns | join(', ') }}
        order by _raw_row_number
    ) > 1
{%- endmacro %}

{#- Of a source of versions (customers, products, orders): a row without issues that shares
    its key, delivery and updated_at with another such row of different contents. Neither
    can be told to be the later version. -#}
{% macro conflicting_version_flag(key_column) -%}
    (
        row_issue is null
        and not is_exact_duplicate
        and count(case when row_issue is null and not is_exact_duplicate then 1 end) over (
            partition by {{ key_column }}, _source_file, updated_at
        ) > 1
    )
{%- endmacro %}

{#- The moment a version dates from: its updated_at, else its delivery's day (`_delivered_on`);
    null for an undated version of a full or undated delivery, older than every dated one. -#}
{% macro version_at() -%}
    coalesce(updated_at, cast(_delivered_on as timestamp))
{%- endmacro %}

{#- Of a source of versions: a row (not a duplicate) with a later valid version of its key,
    later by version_at, then by delivery and position. A version that is quarantined
    replaces nothing. Needs `is_conflicting_version` (conflicting_version_flag). -#}
{% macro superseded_version_flag(key_column) -%}
    (
        not is_exact_duplicate
        and {{ key_column }} is not null
        and count(
            case when row_issue is null and not is_exact_duplicate
                and not is_conflicting_version then 1 end
        ) over (
            partition by {{ key_column }}
            order by {{ version_at() }} asc nulls first, _raw_row_number asc
            rows between 1 following and unbounded following
        ) > 0
    )
{%- endmacro %}

{#- The final staging reason of a source of versions: duplicates and superseded rows carry
    none (they are counted, not quarantined), then row issues, then conflicting versions. -#}
{% macro version_quarantine_reason() -%}
    case
        when is_exact_duplicate or is_superseded then null
        when row_issue is not null then row_issue
        when is_conflicting_version then 'conflicting_duplicate_key'
    end
{%- endmacro %}

{#-
    The final staging reason of a source of events, or of order lines: duplicates and
    superseded rows carry none, row issues come first, and among the other rows a key shared
    by different contents is a conflict (every version is quarantined: we cannot tell which
    one is right).
-#}
{% macro staging_quarantine_reason(key_columns) -%}
    case
        when is_exact_duplicate or is_superseded then null
        when row_issue is not null then row_issue
        when sum(
            case when row_issue is null and not is_exact_duplicate and not is_superseded
                then 1 else 0 end
        ) over (partition by {{ key_columns | join(', ') }}) > 1
            then 'conflicting_duplicate_key'
    end
{%- endmacro %}

{#- A row that is neither a duplicate, superseded, erased nor quarantined. -#}
{% macro is_clean_row() -%}
    (quarantine_reason is null and not is_exact_duplicate and not is_superseded and not is_erased)
{%- endmacro %}
