with

staff_tags as (
    select * from {{ ref('int_staff_tags_validated') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        staff_id,
        customer_id,
        tag_group,
        tag_name,
        -- the raw contract's column name
        raw_action as action, -- noqa: RF04
        raw_event_ts as event_ts
    from staff_tags
    where quarantine_reason is not null
)

select * from final
