with

order_items as (
    select * from {{ ref('int_order_items_validated') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        order_id,
        raw_line_no as line_no,
        sku_id,
        raw_quantity as quantity,
        raw_unit_price as unit_price,
        raw_line_amount as line_amount
    from order_items
    where quarantine_reason is not null
)

select * from final
