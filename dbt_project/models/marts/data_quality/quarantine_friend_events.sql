-- Incremental: only the positions the validated rows were written at since this table was
-- (macros/incremental.sql).
{{ incremental_quarantine("ref('int_friend_events_validated')") }}

with

friend_events as (
    select * from {{ ref('int_friend_events_validated') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        event_id,
        customer_id,
        staff_id,
        raw_event_type as event_type,
        raw_event_ts as event_ts,
        channel_code,
        channel_name,
        {{ written_at() }} as _written_at
    from friend_events
    where {{ quarantined_or_rewritten() }}
)

select * from final
