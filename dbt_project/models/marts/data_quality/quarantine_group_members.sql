with

group_members as (
    select * from {{ ref('int_group_members_validated') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        group_id,
        customer_id,
        raw_event_type as event_type,
        join_scene,
        raw_event_ts as event_ts
    from group_members
    where quarantine_reason is not null
)

select * from final
