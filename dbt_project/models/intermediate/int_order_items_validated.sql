-- Kept per raw row: a night validates again only the rows whose verdict can have changed,
-- and rewrites those whose verdict did (macros/incremental.sql).
{%- set references = {'order_id': 'known_orders', 'sku_id': 'known_products'} %}
{{ incremental_validation("ref('stg_raw__order_items')", references) }}

with

order_items as (
    {{ staged_rows_to_validate(ref('stg_raw__order_items'), references) }}
),

known_orders as (
    {{ known_orders() }}
),

known_products as (
    {{ known_products() }}
),

erased_orders as (
    {{ erased_orders() }}
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
            and erased_orders.known_key is not null
        ) as is_erased,
        case
            when order_items.is_exact_duplicate or order_items.is_superseded then null
            when erased_orders.known_key is not null then null
            when order_items.quarantine_reason is not null then order_items.quarantine_reason
            when known_orders.known_key is null then 'unknown_order'
            when known_products.known_key is null then 'unknown_sku'
        end as quarantine_reason
    from order_items
    left join known_orders
        on order_items.order_id = known_orders.known_key
    left join known_products
        on order_items.sku_id = known_products.known_key
    left join erased_orders
        on order_items.order_id = erased_orders.known_key
),

-- Every row picked is written again: staging wrote it since, or its reference changed.
final as (
    select
        *,
        {{ written_at() }} as _written_at
    from validated
)

select * from final
