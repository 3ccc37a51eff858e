-- Incremental: only the positions the validated rows were written at since this table was
-- (macros/incremental.sql).
{{ incremental_quarantine("ref('int_orders_validated')") }}

with

orders as (
    select * from {{ ref('int_orders_validated') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        order_id,
        customer_id,
        raw_order_ts as order_ts,
        raw_paid_ts as paid_ts,
        raw_confirmed_ts as confirmed_ts,
        raw_cancelled_ts as cancelled_ts,
        raw_refunded_ts as refunded_ts,
        raw_status as status,
        sales_channel as channel,
        raw_total_amount as total_amount,
        raw_discount_amount as discount_amount,
        ship_province,
        {{ written_at() }} as _written_at
    from orders
    where {{ quarantined_or_rewritten() }}
)

select * from final
