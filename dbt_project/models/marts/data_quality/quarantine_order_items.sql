-- Incremental: only the positions the validated rows were written at since this table was
-- (macros/incremental.sql).
{{ incremental_quarantine("ref('int_order_items_validated')") }}

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
        raw_line_amount as line_amount,
        {{ written_at() }} as _written_at
    from order_items
    where {{ quarantined_or_rewritten() }}
)

select * from final
