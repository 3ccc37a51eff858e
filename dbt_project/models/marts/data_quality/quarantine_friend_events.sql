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
        channel_name
    from friend_events
    where quarantine_reason is not null
)

select * from final
