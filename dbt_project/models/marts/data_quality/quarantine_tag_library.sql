with

tag_library as (
    select * from {{ ref('stg_raw__tag_library') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        tag_group,
        tag_name,
        raw_created_at as created_at,
        raw_deleted_at as deleted_at,
        raw_updated_at as updated_at
    from tag_library
    where quarantine_reason is not null
)

select * from final
