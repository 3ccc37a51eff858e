with

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        customer_id,
        raw_gender as gender,
        raw_birthday as birthday,
        province,
        city,
        member_level,
        raw_registered_at as registered_at,
        identity,
        skin_type
    from customers
    where quarantine_reason is not null
)

select * from final
