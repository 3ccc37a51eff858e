{#-
    Incremental staging and validation of the big raw sources (docs/incremental.md).

    The raw contract is one file per source holding every row, re-exported each night. An
    export that appends keeps every earlier row at its position, so a night only has to
    stage the rows whose position holds new content, plus every row that shares a key with
    them (duplicate and conflict checks look across a key). The validation layer then
    rewrites only the rows whose verdict differs from the stored one. Both are exact: an
    incremental build gives the same tables as a full refresh (tests/test_incremental.py). An
    export that reorders its rows only costs time: every moved row is staged again.

    On Spark the models build as tables (dbt-spark has no delete+insert on plain Parquet).
-#}

{#- The config of a model kept per raw row: rows replace rows with the same file position,
    and rows past the end of a file that shrank are removed (post-hook; `post_hook` runs
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
    The raw rows a staging model (re)stages this run: all of them in a full build. Incrementally, the rows loaded after the latest the model holds (`_loaded_at`:
    a folder's new deliveries, or every row of a full file that changed), and the staged rows
    of every key that has such a row or a verdict that depends on the run's clock (a future
    timestamp then or now), plus every row without a key. The duplicate, conflict and
    supersession checks look across a key, so they see every row they compare.
    - key_column: the raw column of the key the duplicate and conflict checks group by;
    - staged_key: that key in the staged table;
    - staged_timestamps: the staged columns the future-timestamp rule reads.
-#}
{% macro raw_rows_to_stage(table_name, key_column, staged_key, staged_timestamps=[]) %}
    {%- set raw_table = source('raw', table_name) -%}
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

{#- The config of a validation model kept per raw row (incremental_by_raw_row on `upstream`,
    its staged table) that also keeps, beside its table, the keys each of its reference checks
    found known at its last build: `references` maps the staged column a check reads to the
    macro that gives the known keys (as `known_key`, one row each), and a post-hook of the
    same transaction stores them as `audit.<model>__known_<column>` (known_keys_relation). -#}
{% macro incremental_validation(upstream, references) %}
    {%- set hooks = [] %}
    {%- for column, known_keys in references.items() %}
        {%- do hooks.append(
            "{{ store_known_keys('" ~ column ~ "', " ~ known_keys ~ "()) }}"
        ) %}
    {%- endfor %}
    {{- incremental_by_raw_row(upstream, post_hook=hooks) -}}
{% endmacro %}

{#- Where a validation model keeps the keys one of its reference checks found known (in the
    model's own database, in the schema of the pipeline's bookkeeping). -#}
{% macro known_keys_relation(column) -%}
    {{ return(api.Relation.create(
        database=this.database, schema='audit',
        identifier=this.identifier ~ '__known_' ~ column,
    )) }}
{%- endmacro %}

{#- Post-hook: tonight's known keys of one reference check replace the stored ones. -#}
{% macro store_known_keys(column, known_keys_sql) -%}
    create schema if not exists {{ known_keys_relation(column).without_identifier() }};
    create or replace table {{ known_keys_relation(column) }} as {{ known_keys_sql }}
{%- endmacro %}

{#- The staged rows a validation model reads, as a query: every row in a full build.
    Incrementally, only the rows whose verdict can have changed since the model's last build:
    - those written after the validated table's latest write (staging writes a row again
      whenever its content or its staging verdict may change);
    - those whose reference entered or left the known keys since the last build: a customer
      who arrives turns their earlier rows clean, one who becomes a conflict turns them
      unknown. `references` is the one incremental_validation took: the keys known now come
      from its macros, the keys known then are the ones it stored.
    Every row, when the stored keys are missing (a table built before they were kept).
    Each part is a scan of its own: an `or` of the two read every column of all 50 million
    interactions at scale L. The latest write is a literal, so that its filter skips the
    blocks of rows written earlier (written rows are appended). -#}
{% macro staged_rows_to_validate(staged_relation, references) %}
    {%- set stored_write = stored_value('max(_written_at)') %}
    {%- set keys_stored = [] %}
    {%- if stored_write is not none %}
        {%- for column in references %}
            {%- set stored = known_keys_relation(column) %}
            {%- if adapter.get_relation(
                database=stored.database, schema=stored.schema, identifier=stored.identifier
            ) is not none %}
                {%- do keys_stored.append(column) %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    {%- if stored_write is none or keys_stored | length < references | length %}
    select * from {{ staged_relation }}
    {%- else %}
    select * from {{ staged_relation }}
    where _written_at > cast('{{ stored_write }}' as timestamp)
        {%- for column, known_keys in references.items() %}

    union

    select * from {{ staged_relation }}
    where {{ column }} in (
        select coalesce(tonight.known_key, stored.known_key)
        from ({{ context[known_keys]() }}) as tonight
        full outer join {{ known_keys_relation(column) }} as stored
            on tonight.known_key = stored.known_key
        where tonight.known_key is null or stored.known_key is null
    )
        {%- endfor %}
    {%- endif %}
{% endmacro %}

{#-
    A fact restated per key (docs/incremental.md, "The facts: compared by lineage"): only
    the keys whose rows differ from the stored ones are written, found by
    rows_of_changed_lineage, rows_at_positions_written_since or lines_of_orders_written_since.
    A key that lost every row gets one marker row (the key, and null in `marker_column`,
    which a real row never has): it replaces the key's stored rows and the post-hook deletes
    it. The night's `as_of_date` is the same on every row, so it is set again on the stored
    rows rather than counted as a change (one column updated on a synthetic table of 50
    million rows: 4 s, where writing the rows again took 37 s). `night_columns` maps any other column that follows from a
    stored row and the night alone (days to a date) to its expression, as Jinja text: it is
    set again with `as_of_date`. `post_hook` runs after these.
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

{#- The rows of `rows` (a CTE) numbered per `key` in `order_by` (`number_column`, from 1), as
    a subquery, for a table configured with incremental_by_numbered_key. All of them in a full
    build. Incrementally only what changed, found per key by the row count and the sum of
    the rows' 64-bit hashes (the stored columns but the number, the as-of date and
    `_written_at`):
    - a key whose stored rows are still all there, unchanged, and only precede its new rows
      (strictly earlier in `time_column`, the first column of `order_by`) gets its new rows
      alone, numbered on after the stored ones: a customer's new day of events;
    - any other changed key is numbered again from 1; a marker row (only the key and the
      number) follows its last row when it has fewer rows than stored, or stands alone when it
      has none left;
    - an unchanged key is not written.
    The numbering of a full build is the same: the stored rows sort first and keep their
    order. Columns of `rows` the table does not store may sort (`order_by`). -#}
{% macro numbered_per_key(rows, key, order_by, number_column, time_column) %}
    {%- if not is_incremental() %}
    (
        select
            *,
            row_number() over (partition by {{ key }} order by {{ order_by }})
            as {{ number_column }}
        from {{ rows }}
    )
    {%- else %}
    {#- A dbt unit test gives `this` as its fixture's name (a string) and runs in the tested
        model's schema; the columns are those of the model's table. #}
    {%- set stored = this %}
    {%- if this is string %}
        {%- set stored = api.Relation.create(
            database=model.database, schema=model.schema,
            identifier=model.tested_node_unique_id.split('.')[-1],
        ) %}
    {%- endif %}
    {%- set compared_columns = [] %}
    {%- for column in adapter.get_columns_in_relation(stored)
        if column.name not in [key, number_column, 'as_of_date', '_written_at'] %}
        {%- do compared_columns.append(column.name) %}
    {%- endfor %}
    {%- set fingerprint = rows_fingerprint(compared_columns) %}
    (
        with

        stored_keys as (
            select
                {{ key }},
                count(*) as row_count,
                {{ fingerprint }} as fingerprint,
                max({{ time_column }}) as last_time
            from {{ this }}
            group by {{ key }}
        ),

        -- Per key, all its rows and those no later than its last stored row.
        new_keys as (
            select
                new_rows.{{ key }},
                count(*) as row_count,
                count(*) filter (
                    where new_rows.{{ time_column }} <= stored_keys.last_time
                ) as earlier_row_count,
                {{ fingerprint }} filter (
                    where new_rows.{{ time_column }} <= stored_keys.last_time
                ) as earlier_fingerprint
            from {{ rows }} as new_rows
            left join stored_keys
                on new_rows.{{ key }} = stored_keys.{{ key }}
            group by new_rows.{{ key }}
        ),

        compared as (
            select
                coalesce(new_keys.{{ key }}, stored_keys.{{ key }}) as {{ key }},
                coalesce(new_keys.row_count, 0) as row_count,
                coalesce(stored_keys.row_count, 0) as stored_row_count,
                stored_keys.last_time,
                coalesce(
                    new_keys.earlier_row_count = stored_keys.row_count
                    and new_keys.earlier_fingerprint = stored_keys.fingerprint,
                    false
                ) as keeps_stored_rows
            from new_keys
            full outer join stored_keys
                on new_keys.{{ key }} = stored_keys.{{ key }}
        ),

        changed_keys as (
            select
                {{ key }},
                keeps_stored_rows,
                last_time,
                case when keeps_stored_rows then stored_row_count else 0 end as numbered_after,
                case
                    when not keeps_stored_rows and row_count < stored_row_count
                        then row_count + 1
                end as marker_number
            from compared
            where not keeps_stored_rows or row_count > stored_row_count
        ),

        rows_to_number as (
            select
                new_rows.*,
                changed_keys.numbered_after
            from {{ rows }} as new_rows
            inner join changed_keys
                on new_rows.{{ key }} = changed_keys.{{ key }}
            where
                not changed_keys.keeps_stored_rows
                or new_rows.{{ time_column }} > changed_keys.last_time
        )

        select
            * exclude (numbered_after),
            numbered_after + row_number() over (
                partition by {{ key }} order by {{ order_by }}
            ) as {{ number_column }}
        from rows_to_number

        -- The marker rows: every other column null (only DuckDB numbers incrementally).
        union all by name

        select
            {{ key }},
            marker_number as {{ number_column }}
        from changed_keys
        where marker_number is not null
    )
    {%- endif %}
{% endmacro %}

{#- The rows of `rows` (a CTE of a fact's rows, with `key`) to write, as a subquery: all of them
    in a full build. Incrementally, every row of each key that one of `upstreams` (validated
    tables, relations) wrote after the fact's latest write (a
    row new, changed, or with a new verdict: validation writes a row again whenever it may have
    changed), that has a timestamp in `night_timestamps` (columns of the first upstream) between
    the end of the stored night and the end of this one (a row or a status change that enters
    the night, or leaves it when a night is rebuilt further back), or that the first upstream no
    longer holds (a full file that shrank). A changed key without a row gets a marker row (see
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

{#- The rows of `rows` (a CTE of the rows of `upstream`, a validated table kept per raw row,
    that the fact keeps: clean, within the night's window) to write, as a subquery, for a fact
    keyed by raw position whose row follows from its validated row and the night alone. All
    of them in a full build. Incrementally only the positions whose fact row can have changed:
    - those `upstream` wrote after the fact's latest write (a row new or changed, or with a
      new verdict: validation writes a row again whenever its verdict changes);
    - those whose `night_timestamp` lies between the end of the stored night and the end of
      this one, in either direction (a row that enters the window, or leaves it when a night
      is rebuilt further back);
    - stored positions past the end of `upstream` (the file shrank).
    Such a position without a row in `rows` gets a marker row (see incremental_by_key). The
    stored values are literals and the filters are on the table's own columns, so each reads
    only the blocks of rows that hold a match: new rows are appended at the end. Comparing
    every row's position and hash with the stored ones took 6.6 s for the 50 million
    interactions on a night at scale L. -#}
{% macro rows_at_positions_written_since(rows, upstream, night_timestamp) %}
    {%- if not is_incremental() -%}
    {{ rows }}
    {%- else -%}
    {%- set stored_write = stored_latest_write() %}
    {%- set night_ends = stored_night_ends() %}
    (
        with

        rows_to_write as (
            select * from {{ rows }}
            where _written_at > {{ stored_write }}

            union all

            select * from {{ rows }}
            where
                _written_at <= {{ stored_write }}
                and {{ between_night_ends(night_timestamp, night_ends) }}
        ),

        positions as (
            select _raw_row_number from {{ upstream }}
            where _written_at > {{ stored_write }}

            union

            select _raw_row_number from {{ upstream }}
            where {{ between_night_ends(night_timestamp, night_ends) }}

            union

            select _raw_row_number from {{ this }}
            where
                _raw_row_number
                > (select coalesce(max(_raw_row_number), 0) from {{ upstream }})
        )

        select * from rows_to_write

        -- The marker rows: every other column null (only DuckDB builds facts incrementally).
        union all by name

        select _raw_row_number from positions
        where _raw_row_number not in (select _raw_row_number from rows_to_write)
    )
    {%- endif -%}
{% endmacro %}

{#- The rows of `lines` (a CTE of fct_order_items' lines, with `order_id`) to write, as a
    subquery: all of them in a full build. Incrementally, every line of the orders whose row in
    `orders` (fct_orders) or whose validated lines were written after the table's latest
    `_written_at`, whose stored lines' product (in `products`) is gone or in another category,
    or that left `orders`; such an order left without lines gets a marker row (see
    incremental_by_key). A line follows from those three, and the first two are rewritten
    whenever they change, so their `_written_at` says which orders to write without comparing
    any line (docs/incremental.md). -#}
{% macro lines_of_orders_written_since(lines, orders, products) %}
    {%- if not is_incremental() -%}
    {{ lines }}
    {%- else -%}
    {%- set stored_write = stored_latest_write() %}
    (
        with

        orders_to_write as (
            select order_id from {{ orders }}
            where _written_at > {{ stored_write }}

            union

            select order_id from {{ ref('int_order_items_validated') }}
            where _written_at > {{ stored_write }}

            union

            -- A product gone or in another category.
            select stored.order_id from {{ this }} as stored
            left join {{ products }} as products
                on stored.sku_id = products.sku_id
            where products.category is distinct from stored.category

            union

            -- An order gone from fct_orders (quarantined, out of the file, after a night
            -- rebuilt further back).
            select stored.order_id from {{ this }} as stored
            anti join {{ orders }} as orders
                on stored.order_id = orders.order_id
        ),

        -- Read once: `lines` joins every line, and DuckDB would store a CTE read twice whole.
        lines_to_write as (
            select * from {{ lines }}
            where order_id in (select order_id from orders_to_write)
        )

        select * from lines_to_write

        -- The marker rows (only DuckDB builds the lines incrementally).
        union all by name

        select order_id from orders_to_write
        where order_id not in (select order_id from lines_to_write)
    )
    {%- endif -%}
{% endmacro %}

{#- An order-independent fingerprint of a group's rows: the sum of their 64-bit hashes. -#}
{% macro rows_fingerprint(columns) -%}
    {{ return(adapter.dispatch('rows_fingerprint', 'scrm')(columns)) }}
{%- endmacro %}

{% macro duckdb__rows_fingerprint(columns) -%}
    sum(hash({{ columns | join(', ') }}))
{%- endmacro %}

{#- Elsewhere the models build as tables (incremental_by_key), so no engine needs it yet. -#}
{% macro default__rows_fingerprint(columns) -%}
    {{ exceptions.raise_compiler_error(
        'rows_fingerprint: no fingerprint for ' ~ target.type
        ~ '; the models restated per key build as tables there'
    ) }}
{%- endmacro %}
