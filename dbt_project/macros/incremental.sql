{#-
    The configs and filters the incremental models share: dbt's incremental materialization
    writes (delete+insert on a unique key), these say which rows a night writes. The design and
    its reasons: docs/incremental.md.
-#}

{#- A model kept per raw row: rows replace the rows at the same raw position, and positions
    past the end of `upstream` (a full file that shrank; Jinja text rendered at run time) go. -#}
{% macro incremental_by_raw_row(upstream, post_hook=[]) %}
    {{- replacing_rows_by_key(
        '_raw_row_number',
        post_hook=[
            "delete from {{ this }} where _raw_row_number > "
            ~ "(select coalesce(max(_raw_row_number), 0) from {{ " ~ upstream ~ " }})",
        ] + post_hook,
    ) -}}
{% endmacro %}

{#- A quarantine table: a row per quarantined row of `upstream`, kept by position; a row
    written without a reason is a marker (quarantined_or_rewritten), deleted after. -#}
{% macro incremental_quarantine(upstream) %}
    {{- incremental_by_raw_row(
        upstream, post_hook=["delete from {{ this }} where quarantine_reason is null"]
    ) -}}
{% endmacro %}

{#- `expression`, an aggregate over this model's stored table, read before the statement
    (none in a full build, at parse time, in a unit test or on an empty table): as a literal,
    a filter on `_written_at` skips the blocks written earlier. -#}
{% macro stored_value(expression) -%}
    {%- if is_incremental() and execute and this is not string -%}
        {{ return(run_query('select ' ~ expression ~ ' from ' ~ this).columns[0].values()[0]) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- stored_value as SQL of `type`: a literal, or in a unit test a subquery of the fixture. -#}
{% macro stored_literal(expression, type) -%}
    {%- if this is string -%}
        {{ return('(select ' ~ expression ~ ' from ' ~ this ~ ')') }}
    {%- endif -%}
    {%- set value = stored_value(expression) -%}
    {%- if value is none -%}
        {{ return('cast(null as ' ~ type ~ ')') }}
    {%- endif -%}
    {{ return("cast('" ~ value ~ "' as " ~ type ~ ")") }}
{%- endmacro %}

{#- The validated rows a quarantine table writes: the quarantined ones in a full build, else
    every row written since its latest write (those no longer quarantined become markers).
    Quarantined rows are spread over the whole table: reading them all reads every block. -#}
{% macro quarantined_or_rewritten() -%}
    {%- set stored_write = stored_value('max(_written_at)') -%}
    {%- if stored_write is none -%}
        {#- A full build, or an empty table: no stored row to replace. -#}
        quarantine_reason is not null
    {%- else -%}
        _written_at > cast('{{ stored_write }}' as timestamp)
    {%- endif -%}
{%- endmacro %}

{#- A run replaces the stored rows of the keys it writes, runs `post_hook`, and fails on a
    new column. On Spark a table: dbt-spark has no delete+insert on plain Parquet tables. -#}
{% macro replacing_rows_by_key(unique_key, post_hook) %}
    {%- if target.type == 'spark' %}
        {{- config(materialized='table') -}}
    {%- else %}
        {{- config(
            materialized='incremental',
            incremental_strategy='delete+insert',
            unique_key=unique_key,
            on_schema_change='fail',
            post_hook=post_hook,
        ) -}}
    {%- endif %}
{% endmacro %}

{#- The rows of `raw_table` a staging model stages: all in a full build, else those loaded
    since its latest `_loaded_at` and the rows of every key they touch or whose verdict
    depends on the clock, and every row without a key: the checks look across a key.
    `key_column` is the raw key, `staged_key` the staged one, `staged_timestamps` the columns
    the future-timestamp rule reads. -#}
{% macro raw_rows_to_stage(raw_table, key_column, staged_key, staged_timestamps=[]) %}
    {%- if not is_incremental() %}
    select * from {{ raw_table }}
    {%- else %}
    {%- set staged_until = 'coalesce(' ~ stored_literal('max(_loaded_at)', 'timestamp')
        ~ ", cast('1900-01-01' as timestamp))" %}
    with

    affected_keys as (
        select {{ clean_text(key_column) }} as row_key from {{ raw_table }}
        where _loaded_at > {{ staged_until }}

        union

        select {{ staged_key }} as row_key from {{ this }}
        where
            quarantine_reason = 'future_timestamp'
            {%- for column in staged_timestamps %}
            or {{ column }} > {{ run_started_at_local() }}
            {%- endfor %}
    )

    select * from {{ raw_table }}
    where _loaded_at > {{ staged_until }}

    union all

    select * from {{ raw_table }}
    where
        _loaded_at <= {{ staged_until }}
        and _raw_row_number in (
            select _raw_row_number from {{ this }}
            where
                {{ staged_key }} is null
                or {{ staged_key }}
                in (select row_key from affected_keys where row_key is not null)
        )
    {%- endif %}
{% endmacro %}

{#- A table restated per key: a key that lost every row gets a marker row (null in
    `marker_column`), which replaces its rows and is deleted after. `as_of_date`, and each of
    `night_columns` (column: Jinja expression) that follows from a row and the night alone, is
    set again on the stored rows: updating a column is far cheaper than writing rows. -#}
{% macro incremental_by_key(key, marker_column, night_columns={}, post_hook=[]) %}
    {{- replacing_rows_by_key(
        key,
        post_hook=[
            "delete from {{ this }} where " ~ marker_column ~ " is null",
            "update {{ this }} set as_of_date = {{ as_of_date() }}"
            ~ night_column_updates(night_columns)
            ~ " where as_of_date <> {{ as_of_date() }}",
        ] + post_hook,
    ) -}}
{% endmacro %}

{#- `, column = expression` for each of `night_columns`, for incremental_by_key's update. -#}
{% macro night_column_updates(night_columns) -%}
    {%- for column, expression in night_columns.items() -%}
        , {{ column }} = {{ expression }}
    {%- endfor -%}
{%- endmacro %}

{#- A table numbered per key: a run replaces the (key, number) pairs it writes, and a marker
    row (null in `marker_column`) removes its key's rows from its number on. -#}
{% macro incremental_by_numbered_key(key, number_column, marker_column) %}
    {{- replacing_rows_by_key(
        [key, number_column],
        post_hook=[
            "delete from {{ this }} as stored using ("
            ~ "select " ~ key ~ ", " ~ number_column ~ " from {{ this }}"
            ~ " where " ~ marker_column ~ " is null) as markers"
            ~ " where stored." ~ key ~ " = markers." ~ key
            ~ " and stored." ~ number_column ~ " >= markers." ~ number_column,
            "update {{ this }} set as_of_date = {{ as_of_date() }}"
            ~ " where as_of_date <> {{ as_of_date() }}",
        ],
    ) -}}
{% endmacro %}

{#- The rows of `rows` (a fact's rows, with `key`) to write: all in a full build, else every
    row of each key that one of `upstreams` wrote since the fact's latest write, that has one
    of `night_timestamps` between the stored night's end and this one's, that the first
    upstream no longer holds, or that `also_keys` (a query of `key`) lists; with a marker row
    for a changed key without rows. `upstream_key` is the key's name in the upstreams. -#}
{% macro rows_of_keys_written_since(
    rows, key, upstreams, night_timestamps, upstream_key=none, also_keys=none
) %}
    {%- set upstream_key = upstream_key or key %}
    {%- if not is_incremental() -%}
    {{ rows }}
    {%- else -%}
    {%- set stored_write = stored_latest_write() %}
    {%- set night_ends = stored_night_ends() %}
    (
        with

        changed_keys as (
            {%- for upstream in upstreams %}
            select {{ upstream_key }} as {{ key }} from {{ upstream }}
            where _written_at > {{ stored_write }}

            union
            {%- endfor %}
            {%- if also_keys %}

            {{ also_keys }}

            union
            {%- endif %}

            select {{ upstream_key }} as {{ key }} from {{ upstreams[0] }}
            where
                {%- for timestamp in night_timestamps %}
                {{ between_night_ends(timestamp, night_ends) }}
                {{- ' or' if not loop.last }}
                {%- endfor %}

            union

            select stored.{{ key }} from {{ this }} as stored
            anti join {{ upstreams[0] }} as upstream
                on stored.{{ key }} = upstream.{{ upstream_key }}
        ),

        -- Read once: DuckDB would store a CTE read twice whole.
        rows_to_write as (
            select * from {{ rows }}
            where {{ key }} in (select {{ key }} from changed_keys)
        )

        select * from rows_to_write

        -- The marker rows: every other column null (only DuckDB builds facts incrementally).
        union all by name

        select {{ key }} from changed_keys
        where
            {{ key }} is not null
            and {{ key }} not in (select {{ key }} from rows_to_write where {{ key }} is not null)
    )
    {%- endif -%}
{% endmacro %}

{#- This table's latest `_written_at` (stored_literal), or a moment before any write: the
    upstream rows written after it are those it has not taken in. -#}
{% macro stored_latest_write() -%}
    coalesce(
        {{ stored_literal('max(_written_at)', 'timestamp') }}, cast('1900-01-01' as timestamp)
    )
{%- endmacro %}

{#- The earliest and latest of the stored nights' ends and this one's, as literals: a
    timestamp between them crossed a night's end (both are this night's end when none is
    stored). -#}
{% macro stored_night_ends() -%}
    {{ return({
        'earliest': 'least(' ~ dbt.dateadd(
            'day', 1, stored_literal('min(as_of_date)', 'timestamp')
        ) ~ ', ' ~ as_of_end() ~ ')',
        'latest': 'greatest(' ~ dbt.dateadd(
            'day', 1, stored_literal('max(as_of_date)', 'timestamp')
        ) ~ ', ' ~ as_of_end() ~ ')',
    }) }}
{%- endmacro %}

{#- Whether `timestamp` lies between the `ends` of stored_night_ends (null for null). -#}
{% macro between_night_ends(timestamp, ends) -%}
    ({{ timestamp }} >= {{ ends.earliest }} and {{ timestamp }} < {{ ends.latest }})
{%- endmacro %}
