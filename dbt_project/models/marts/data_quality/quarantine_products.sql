with

products as (
    select * from {{ ref('stg_raw__products') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        sku_id,
        sku_name,
        category,
        raw_price as price,
        raw_launched_at as launched_at,
        raw_consumption_cycle_days as consumption_cycle_days
    from products
    where quarantine_reason is not null
)

select * from final
