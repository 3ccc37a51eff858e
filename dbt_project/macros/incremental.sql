{#-
    The configs and filters the incremental models share (docs/incremental.md). dbt's
    incremental materialization does the writing (delete+insert on a unique key); these say
    which rows a night writes.

    Staging reads the raw rows loaded since it last ran (a folder's new deliveries, or a
    whole file that changed) and the stored rows of the keys they touch; validation, the facts
    and the per-customer marts follow the `_written_at` of what they read. Each is exact: an
    incremental build gives the same tables as a full refresh (tests/test_incremental.py).

    On Spark the models build as tables (dbt-spark has no delete+insert on plain Parquet).
-#}

{#- The config of a model kept per raw row: rows replace rows with the same raw position,
    and rows past the end of a full file that shrank are removed (post-hook; `post_hook` runs
    after it). `upstream` is the relation the positions come from, as Jinja source text
    rendered at run time. -#}
{% macro incremental_by_raw_row(upstream, post_hook=[]) %}
    {{- replacing_rows_by_key(
        '_raw_row_number',
        post_hook=[
            "delete from {{ this }} where _raw_row_number > "
            ~ "(select coalesce(max(_raw_row_number), 0) from {{ " ~ upstream ~ " }})",
        ] + post_hook,
    ) -}}
{% endmacro %}

{#- The config of a quarantine table: one row per quarantined row of `upstream` (a validated
    table kept per raw row, as Jinja source text rendered at run time), replaced by position.
    Positions past the end of the upstream table go (incremental_by_raw_row), and a position
    written with no reason is a marker (quarantined_or_rewritten) that a post-hook deletes. -#}
{% macro incremental_quarantine(upstream) %}
    {{- incremental_by_raw_row(
        upstream, post_hook=["delete from {{ this }} where quarantine_reason is null"]
    ) -}}
{% endmacro %}

{#- The value of `expression`, an aggregate over this incremental model's stored table (its
    latest `_written_at`, its nights), read before the statement: none in a full build, at
    parse time, in a dbt unit test (whose `this` is a fixture only the statement can read),
    or when the table is empty. Rendered as a literal, a filter on a column of a scanned
    table skips the blocks of rows whose range of it cannot match: written rows are appended,
    so a filter on `_written_at` reads only the blocks written since. -#}
{% macro stored_value(expression) -%}
    {%- if is_incremental() and execute and this is not string -%}
        {{ return(run_query('select ' ~ expression ~ ' from ' ~ this).columns[0].values()[0]) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- stored_value as SQL of type `type`: a literal, or in a dbt unit test a subquery of the
    fixture. -#}
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

{#- A condition on the rows of a validated table kept per raw row, for a quarantine table
    (incremental_quarantine): the quarantined rows in a full build. Incrementally, every row
    written after the quarantine table's latest write, quarantined or not: the validated
    table writes a row again whenever its reason changes, so those are all the positions
    whose quarantine row can have come, changed or gone, and the ones no longer quarantined
    become markers. Reading every quarantined row instead took 3.8 s for the interactions at
    scale L: they are spread over all 50 million rows, so every column of nearly every block
    was read. -#}
{% macro quarantined_or_rewritten() -%}
    {%- set stored_write = stored_value('max(_written_at)') -%}
    {%- if stored_write is none -%}
        {#- A full build, or an empty table: no stored row to replace. -#}
        quarantine_reason is not null
    {%- else -%}
        _written_at > cast('{{ stored_write }}' as timestamp)
    {%- endif -%}
{%- endmacro %}

{#- The config both kinds share: a run replaces the stored rows of the keys it writes
    (delete+insert on `unique_key`), runs `post_hook` after, and fails on a new column. On
    Spark a table: dbt-spark has no delete+insert on plain Parquet tables. -#}
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

{#-
    The rows of `raw_table` (a raw source) a staging model (re)stages this run: all of them in
    a full build. Incrementally, the rows loaded after the latest the model holds (`_loaded_at`:
    a folder's new deliveries, or every row of a full file that changed), and the staged rows
    of every key that has such a row or a verdict that depends on the run's clock (a future
    timestamp then or now), plus every row without a key. The duplicate, conflict and
    supersession checks look across a key, so they see every row they compare.
    - key_column: the raw column of the key the duplicate and conflict checks group by;
    - staged_key: that key in the staged table;
    - staged_timestamps: the staged columns the future-timestamp rule reads.
-#}
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

{#-
    A table restated per key (docs/incremental.md): only the keys whose rows can have changed
    are written, found from the `_written_at` of what it reads (rows_of_keys_written_since,
    or in the model itself). A key that lost every row gets one marker row (the key, and null in `marker_column`,
    which a real row never has): it replaces the key's stored rows and the post-hook deletes
    it. The night's `as_of_date` is the same on every row, so it is set again on the stored
    rows rather than counted as a change (one column updated on a synthetic table of 50
    million rows: 4 s, where writing the rows again took 37 s). `night_columns` maps any other
    column that follows from a stored row and the night alone (days to a date) to its
    expression, as Jinja text: it is set again with `as_of_date`. `post_hook` runs after
    these.
-#}
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

{#- The config of a table numbered per key (docs/incremental.md, "The timeline: appended per
    customer"): a run replaces the rows of the (key, number) pairs it writes. A marker row
    (null in `marker_column`, which a real row never has) removes its key's rows from its
    number on: those of a key numbered again that now has fewer rows, or all of a key that has
    none left. The night's `as_of_date` is set again on the stored rows (see
    incremental_by_key). -#}
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

{#- The rows of `rows` (a CTE of a fact's rows, with `key`) to write, as a subquery: all of
    them in a full build. Incrementally, every row of each key that one of `upstreams`
    (validated tables, relations) wrote after the fact's latest write (a row new, changed, or
    with a new verdict: validation writes a row again whenever it may have changed), that has
    a timestamp in `night_timestamps` (columns of the first upstream) between the end of the
    stored night and the end of this one (a row or a status change that enters the night, or
    leaves it when a night is rebuilt further back), or that the first upstream no longer
    holds (quarantined, or a full file that shrank). A changed key without a row gets a marker row (see
    incremental_by_key). The latest write is a literal, so its filter reads only the blocks of
    rows written since: written rows are appended. -#}
{% macro rows_of_keys_written_since(rows, key, upstreams, night_timestamps) %}
    {%- if not is_incremental() -%}
    {{ rows }}
    {%- else -%}
    {%- set stored_write = stored_latest_write() %}
    {%- set night_ends = stored_night_ends() %}
    (
        with

        changed_keys as (
            {%- for upstream in upstreams %}
            select {{ key }} from {{ upstream }}
            where _written_at > {{ stored_write }}

            union
            {%- endfor %}

            select {{ key }} from {{ upstreams[0] }}
            where
                {%- for timestamp in night_timestamps %}
                {{ between_night_ends(timestamp, night_ends) }}
                {{- ' or' if not loop.last }}
                {%- endfor %}

            union

            select stored.{{ key }} from {{ this }} as stored
            anti join {{ upstreams[0] }} as upstream
                on stored.{{ key }} = upstream.{{ key }}
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

{#- This table's latest `_written_at` as SQL (stored_literal), or a moment before any write
    when it is empty: the rows of an upstream table written after it are those this table has
    not taken in yet. -#}
{% macro stored_latest_write() -%}
    coalesce(
        {{ stored_literal('max(_written_at)', 'timestamp') }}, cast('1900-01-01' as timestamp)
    )
{%- endmacro %}

{#- The earliest and the latest of the ends of the stored nights and of this one, as SQL:
    literals read before the statement (stored_literal), once per model. A timestamp between
    them (between_night_ends) is on one side of a stored night's end and on the other of this
    one's. With no stored night both are this night's end, and nothing is between. -#}
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

{#- Whether `timestamp` lies between the `ends` of stored_night_ends, as SQL (null for a null
    timestamp). -#}
{% macro between_night_ends(timestamp, ends) -%}
    ({{ timestamp }} >= {{ ends.earliest }} and {{ timestamp }} < {{ ends.latest }})
{%- endmacro %}
