-- Kept per raw row: a night rewrites only rows whose verdict changed (macros/incremental.sql).
{{ incremental_by_raw_row("ref('stg_raw__order_items')") }}

with

order_items as (
    select * from {{ ref('stg_raw__order_items') }}
),

known_orders as (
    select order_id from {{ ref('int_orders_validated') }}
    where {{ is_clean_row() }}
),

known_products as (
    select sku_id from {{ ref('stg_raw__products') }}
    where {{ is_clean_row() }}
),

-- Inlined: read twice when incremental (by block, then the changed blocks' rows).
validated as {{ inlined_cte() }} (
    select
        {{ columns_to_validate(ref('stg_raw__order_items'), 'order_items') }},
        case
            when order_items.is_exact_duplicate then null
            when order_items.quarantine_reason is not null then order_items.quarantine_reason
            when known_orders.order_id is null then 'unknown_order'
            when known_products.sku_id is null then 'unknown_sku'
        end as quarantine_reason
    from order_items
    left join known_orders
        on order_items.order_id = known_orders.order_id
    left join known_products
        on order_items.sku_id = known_products.sku_id
)

{{ rows_to_revalidate('validated', ref('stg_raw__order_items')) }}
