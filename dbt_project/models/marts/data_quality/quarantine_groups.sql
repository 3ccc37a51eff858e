with

groups as (
    select * from {{ ref('stg_raw__groups') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        group_id,
        -- the raw contract's column name
        raw_name as name, -- noqa: RF04
        owner_staff_id,
        raw_created_at as created_at,
        raw_dismissed_at as dismissed_at,
        raw_updated_at as updated_at,
        raw_deleted as _deleted
    from groups
    where quarantine_reason is not null
)

select * from final
