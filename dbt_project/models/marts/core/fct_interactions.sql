-- Incremental on DuckDB, by raw position: an interaction's row follows from its validated row
-- and the night alone, so a night writes only the positions whose row can have changed:
-- - those validation wrote since this table was (new, changed, or with a new verdict);
-- - those whose time lies between the end of the stored night and the end of this one, in
--   either direction (a row that enters the window, or leaves it when a night is rebuilt
--   further back);
-- - stored positions past the end of the validated table (a full file that shrank).
-- Such a position without a row gets a marker row (incremental_by_key). The stored values are
-- literals and the filters are on the tables' own columns, so each reads only the blocks of
-- rows that hold a match: new rows are appended at the end. Comparing every row's position
-- and hash with the stored ones read every row.
{{ incremental_by_key('_raw_row_number', marker_column='interaction_id') }}
{%- if is_incremental() %}
    {%- set written_before = stored_latest_write() %}
    {%- set night_ends = stored_night_ends() %}
{%- endif %}

with

validated as (
    select * from {{ ref('int_interactions_validated') }}
),

-- Read twice when incremental (the rows written since, then those the night moves).
interactions as {{ inlined_cte() }} (
    select * from validated
    where
        {{ is_clean_row() }}
        and interacted_at < {{ as_of_end() }}
),

interactions_to_write as (
    {%- if is_incremental() %}
    select * from interactions
    where _written_at > {{ written_before }}

    union all

    select * from interactions
    where
        _written_at <= {{ written_before }}
        and {{ between_night_ends('interacted_at', night_ends) }}
    {%- else %}
        select * from interactions
    {%- endif %}
),

{%- if is_incremental() %}

positions_to_write as (
    select _raw_row_number from validated
    where _written_at > {{ written_before }}

    union

    select _raw_row_number from validated
    where {{ between_night_ends('interacted_at', night_ends) }}

    union

    select _raw_row_number from {{ this }}
    where _raw_row_number > (select coalesce(max(_raw_row_number), 0) from validated)
),
{%- endif %}

written as (
    select
        interaction_id,
        customer_id,
        staff_id,
        interaction_type,
        interacted_at,
        cast(interacted_at as date) as interacted_on,
        content_id,
        topic,
        duration_seconds,
        _raw_row_number,
        {{ as_of_date() }} as as_of_date,
        {{ written_at() }} as _written_at
    from interactions_to_write
),

final as (
    select * from written
    {%- if is_incremental() %}

    -- The marker rows: every other column null (only DuckDB builds facts incrementally).
    union all by name

    select _raw_row_number from positions_to_write
    where _raw_row_number not in (select _raw_row_number from interactions_to_write)
    {%- endif %}
)

select * from final
