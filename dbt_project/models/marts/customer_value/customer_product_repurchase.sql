{#- Incrementally only the customers whose net paid lines of periodic consumables changed
    (macros/restated_per_customer.sql); the days to each run-out date follow from the night and
    are set again on every row. -#}
{{ incremental_by_key(
    'customer_id',
    marker_column='sku_id',
    night_columns={
        'days_to_run_out': "{{ days_to_run_out('expected_run_out_on') }}",
        'is_repurchase_due': (
            "{{ is_repurchase_due('expected_run_out_on', 'has_newer_category_purchase') }}"
        ),
    },
) }}

with

{{ restated_customers_cte(ref('customer_product_repurchase_inputs')) }}

purchased_items as (
    select * from {{ ref('fct_order_items') }}
    where is_net_paid and {{ is_restated() }}
),

products as (
    select * from {{ ref('dim_products') }}
    where is_periodic_consumable
),

-- What each customer bought of each periodic consumable on each purchase day.
product_days as (
    select
        purchased_items.customer_id,
        purchased_items.sku_id,
        purchased_items.category,
        purchased_items.paid_on,
        products.consumption_cycle_days,
        sum(purchased_items.quantity) as quantity
    from purchased_items
    inner join products
        on purchased_items.sku_id = products.sku_id
    group by
        purchased_items.customer_id,
        purchased_items.sku_id,
        purchased_items.category,
        purchased_items.paid_on,
        products.consumption_cycle_days
),

-- The latest purchase day of each customer and product, and what they bought on it. An
-- aggregate, not a window ranked by day: the same rows, faster.
latest_product_days as (
    select
        customer_id,
        sku_id,
        category,
        consumption_cycle_days,
        max(paid_on) as paid_on,
        max_by(quantity, paid_on) as quantity
    from product_days
    group by customer_id, sku_id, category, consumption_cycle_days
),

-- The latest day of each category, from the latest day of each of its products: the same
-- day, and `product_days` is then read once, so DuckDB does not store it first.
latest_category_purchases as (
    select
        customer_id,
        category,
        max(paid_on) as last_category_purchase_on
    from latest_product_days
    group by customer_id, category
),

run_outs as (
    select
        latest_product_days.customer_id,
        latest_product_days.sku_id,
        latest_product_days.category,
        latest_product_days.paid_on as last_purchase_on,
        latest_product_days.quantity as last_purchase_quantity,
        latest_product_days.consumption_cycle_days,
        {{ add_days(
            'latest_product_days.paid_on',
            'latest_product_days.consumption_cycle_days * latest_product_days.quantity'
        ) }} as expected_run_out_on,
        latest_category_purchases.last_category_purchase_on
        > latest_product_days.paid_on as has_newer_category_purchase
    from latest_product_days
    inner join latest_category_purchases
        on
            latest_product_days.customer_id = latest_category_purchases.customer_id
            and latest_product_days.category = latest_category_purchases.category
),

final as (
    select
        customer_id,
        sku_id,
        category,
        last_purchase_on,
        last_purchase_quantity,
        consumption_cycle_days,
        expected_run_out_on,
        {{ days_to_run_out('expected_run_out_on') }} as days_to_run_out,
        has_newer_category_purchase,
        {{ is_repurchase_due('expected_run_out_on', 'has_newer_category_purchase') }}
            as is_repurchase_due,
        {{ as_of_date() }} as as_of_date,
        {{ written_at() }} as _written_at
    from run_outs
)

select * from final
{{ restated_customer_markers() }}
