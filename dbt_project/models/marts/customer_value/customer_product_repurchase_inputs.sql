-- Bookkeeping of customer_product_repurchase, in `audit`: one fingerprint per customer of
-- what the mart reads of them, their net paid lines of periodic consumables and the periodic
-- consumables themselves (a change of a product's cycle restates every customer). A night
-- writes only the customers whose fingerprint changed, a customer gone included (a null
-- fingerprint), so `_written_at` tells the mart whom to restate (docs/incremental.md).
{{ config(schema='audit') }}
{{ replacing_rows_by_key('customer_id', post_hook=[]) }}

with

periodic_products as (
    select
        sku_id,
        consumption_cycle_days
    from {{ ref('dim_products') }}
    where is_periodic_consumable
),

products as (
    select {{ rows_fingerprint(['sku_id', 'consumption_cycle_days']) }} as fingerprint
    from periodic_products
),

order_items as (
    select * from {{ ref('fct_order_items') }}
    where is_net_paid
),

lines as (
    select
        order_items.customer_id,
        count(*) as row_count,
        {{ rows_fingerprint([
            'order_items.sku_id', 'order_items.category', 'order_items.paid_on',
            'order_items.quantity',
        ]) }} as fingerprint
    from order_items
    inner join periodic_products
        on order_items.sku_id = periodic_products.sku_id
    group by order_items.customer_id
),

fingerprints as (
    select
        lines.customer_id,
        {{ row_fingerprint(['lines.row_count', 'lines.fingerprint', 'products.fingerprint']) }}
            as inputs_fingerprint
    from lines
    cross join products
),

changed as (
    {%- if is_incremental() %}
    select
        coalesce(fingerprints.customer_id, stored.customer_id) as customer_id,
        fingerprints.inputs_fingerprint
    from fingerprints
    full outer join {{ this }} as stored
        on fingerprints.customer_id = stored.customer_id
    where fingerprints.inputs_fingerprint is distinct from stored.inputs_fingerprint
    {%- else %}
        select * from fingerprints
    {%- endif %}
),

final as (
    select
        *,
        {{ written_at() }} as _written_at
    from changed
)

select * from final
