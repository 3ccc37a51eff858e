-- Incremental on DuckDB, by raw position: an interaction's row follows from its validated row
-- and the night alone, so a night writes only the positions whose row can have changed:
-- - those validation wrote since this table was (new, changed, or with a new verdict);
-- - those whose time lies between the end of the stored night and the end of this one, in
--   either direction (a row that enters the window, or leaves it when a night is rebuilt
--   further back);
-- - stored positions past the end of the validated table (a full file that shrank);
-- - stored positions whose customer id belongs to another person tonight.
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

-- The person each customer id is on the night (docs/identity.md): without links, the id.
persons as (
    select * from {{ ref('int_identity_persons') }}
),
{%- if is_incremental() %}

-- Stored rows of another person tonight (a link joined or split them, or a night rebuilt
-- further back).
positions_of_another_person as (
    select stored._raw_row_number from {{ this }} as stored
    left join persons
        on stored.source_customer_id = persons.id
    where stored.customer_id <> coalesce(persons.person_id, stored.source_customer_id)
),
{%- endif %}

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
        and (
            {{ between_night_ends('interacted_at', night_ends) }}
            or _raw_row_number in (select _raw_row_number from positions_of_another_person)
        )
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

    union

    select _raw_row_number from positions_of_another_person
),
{%- endif %}

written as (
    select
        interactions_to_write.interaction_id,
        coalesce(persons.person_id, interactions_to_write.customer_id) as customer_id,
        interactions_to_write.customer_id as source_customer_id,
        interactions_to_write.staff_id,
        interactions_to_write.interaction_type,
        interactions_to_write.interacted_at,
        cast(interactions_to_write.interacted_at as date) as interacted_on,
        interactions_to_write.content_id,
        interactions_to_write.topic,
        interactions_to_write.duration_seconds,
        interactions_to_write._raw_row_number,
        {{ as_of_date() }} as as_of_date,
        {{ written_at() }} as _written_at
    from interactions_to_write
    left join persons
        on interactions_to_write.customer_id = persons.id
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
