-- Incremental on DuckDB: a night writes again every line of the orders whose row or lines
-- were written since this table was (docs/incremental.md, "The order lines: restated by what
-- was written").
{{ incremental_by_key('order_id', marker_column='customer_id') }}

with

order_items as (
    select * from {{ ref('int_order_items_validated') }}
    where {{ is_clean_row() }}
),

orders as (
    select * from {{ ref('fct_orders') }}
),

products as (
    select * from {{ ref('stg_raw__products') }}
    where {{ is_clean_row() }}
),

{% if is_incremental() %}
-- A line follows from its validated row, its order's row in fct_orders and its product's
-- category. The first two are rewritten whenever they change, so their `_written_at` says
-- which orders to write; products are a small table, compared with the stored lines.
last_write as (
    select coalesce(max(_written_at), cast('1900-01-01' as timestamp)) as written_at
    from {{ this }}
),

orders_to_write as (
    select order_id from orders
    where _written_at > (select written_at from last_write)

    union

    select order_id from {{ ref('int_order_items_validated') }}
    where _written_at > (select written_at from last_write)

    union

    -- A product gone or in another category.
    select stored.order_id from {{ this }} as stored
    left join products
        on stored.sku_id = products.sku_id
    where products.category is distinct from stored.category

    union

    -- An order gone from fct_orders (quarantined, out of the file, after a night rebuilt).
    select stored.order_id from {{ this }} as stored
    anti join orders
        on stored.order_id = orders.order_id
),
{% endif %}

final as (
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
    {%- if is_incremental() %}
    where order_items.order_id in (select order_id from orders_to_write)
    {%- endif %}
)

select * from final
{%- if is_incremental() %}

-- A marker row for each order written without any line left (see incremental_by_key): it
-- replaces the stored lines, and the post-hook deletes it.
union all by name

select order_id from orders_to_write
where order_id not in (select order_id from final)
{%- endif %}
