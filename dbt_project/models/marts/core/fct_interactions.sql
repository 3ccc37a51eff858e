{{ incremental_by_key('_raw_row_number', marker_column='interaction_id') }}

with

-- Read twice when incremental (the rows written since, then those the night moves).
interactions as {{ inlined_cte() }} (
    select * from {{ ref('int_interactions_validated') }}
    where
        {{ is_clean_row() }}
        and interacted_at < {{ as_of_end() }}
),

interactions_to_write as (
    select * from {{ rows_at_positions_written_since(
        'interactions', ref('int_interactions_validated'), night_timestamp='interacted_at'
    ) }}
),

final as (
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
)

select * from final
