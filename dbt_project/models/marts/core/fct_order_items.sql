-- Incremental on DuckDB: a night writes again every line of the orders whose row or lines
-- were written since this table was (lines_of_orders_written_since, macros/incremental.sql).
{{ incremental_by_key('order_id', marker_column='customer_id') }}

with

order_items as (
    select * from {{ ref('int_order_items_validated') }}
    where {{ is_clean_row() }}
),

orders as (
    select * from {{ ref('fct_orders') }}
),

-- A line's category is its product's on the night.
products as (
    select * from {{ ref('dim_product_history') }}
    where is_current
),

lines as (
    select
        order_items.order_id,
        order_items.line_number,
        orders.customer_id,
        order_items.sku_id,
        products.category,

        -- the order's point-in-time state, so item analyses need no join
        orders.ordered_at,
        orders.ordered_on,
        orders.order_status,
        orders.is_paid,
        orders.is_refunded,
        orders.is_cancelled,
        orders.is_net_paid,
        orders.paid_on,

        -- quantities and amounts
        order_items.quantity,
        order_items.unit_price_cny,
        order_items.line_amount_cny,

        orders.as_of_date,
        {{ written_at() }} as _written_at
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    inner join products
        on order_items.sku_id = products.sku_id
),

final as (
    select * from {{ lines_of_orders_written_since('lines', 'orders', 'products') }}
)

select * from final
