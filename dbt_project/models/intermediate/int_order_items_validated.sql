-- The staging checks plus the reference checks: a line of an erased order is erased, one
-- whose order is not known (a clean order) is `unknown_order`, one whose product is not known
-- (a clean products row) `unknown_sku`. Kept per raw row: a night checks again the lines
-- staging wrote since and those of the orders and products whose finding changed since
-- (int_known_orders, int_known_products), and writes them all again.
{{ incremental_by_raw_row("ref('stg_raw__order_items')") }}
{%- set checked_until = stored_latest_write() %}

with

order_items as (
    select * from {{ ref('stg_raw__order_items') }}
    {%- if is_incremental() %}
    where _written_at > {{ checked_until }}

    -- Scans of their own: an `or` of the three read every column of every row.
    union

    select * from {{ ref('stg_raw__order_items') }}
    where order_id in (
        select order_id from {{ ref('int_known_orders') }}
        where _written_at > {{ checked_until }}
    )

    union

    select * from {{ ref('stg_raw__order_items') }}
    where sku_id in (
        select sku_id from {{ ref('int_known_products') }}
        where _written_at > {{ checked_until }}
    )
    {%- endif %}
),

known_orders as (
    select * from {{ ref('int_known_orders') }}
),

known_products as (
    select * from {{ ref('int_known_products') }}
),

validated as (
    select
        {{ star(
            ref('stg_raw__order_items'),
            except=['quarantine_reason', '_written_at', '_loaded_at', 'is_erased'],
            relation_alias='order_items',
        ) }},
        (
            not order_items.is_exact_duplicate
            and not order_items.is_superseded
            and coalesce(known_orders.is_erased, false)
        ) as is_erased,
        case
            when order_items.is_exact_duplicate or order_items.is_superseded then null
            when known_orders.is_erased then null
            when order_items.quarantine_reason is not null then order_items.quarantine_reason
            when not coalesce(known_orders.is_known, false) then 'unknown_order'
            when not coalesce(known_products.is_known, false) then 'unknown_sku'
        end as quarantine_reason
    from order_items
    left join known_orders
        on order_items.order_id = known_orders.order_id
    left join known_products
        on order_items.sku_id = known_products.sku_id
),

final as (
    select
        *,
        {{ written_at() }} as _written_at
    from validated
)

select * from final
