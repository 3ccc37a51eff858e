-- Incremental on DuckDB: a night writes again every line of the orders whose row or lines
-- were written since this table was, whose product is gone or in another category, or that
-- left fct_orders. A line follows from those three, and the first two are written again
-- whenever they change, so their `_written_at` says which orders to write without comparing
-- any line (docs/incremental.md). An order left without lines gets a marker row
-- (incremental_by_key).
{{ incremental_by_key('order_id', marker_column='customer_id') }}
{%- if is_incremental() %}
    {%- set written_before = stored_latest_write() %}
{% endif %}

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
        orders.source_customer_id,
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
{%- if is_incremental() %}

orders_to_write as (
    select order_id from orders
    where _written_at > {{ written_before }}

    union

    select order_id from {{ ref('int_order_items_validated') }}
    where _written_at > {{ written_before }}

    union

    -- A product gone or in another category.
    select stored.order_id from {{ this }} as stored
    left join products
        on stored.sku_id = products.sku_id
    where products.category is distinct from stored.category

    union

    -- An order gone from fct_orders (quarantined, or after a night rebuilt further back).
    select stored.order_id from {{ this }} as stored
    anti join orders
        on stored.order_id = orders.order_id
),

-- Read once: `lines` joins every line, and DuckDB would store a CTE read twice whole.
lines_to_write as (
    select * from lines
    where order_id in (select order_id from orders_to_write)
),
{%- endif %}

final as (
    {%- if is_incremental() %}
    select * from lines_to_write

    -- The marker rows (only DuckDB builds the lines incrementally).
    union all by name

    select order_id from orders_to_write
    where order_id not in (select order_id from lines_to_write)
    {%- else %}
        select * from lines
    {%- endif %}
)

select * from final
