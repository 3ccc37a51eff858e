with

-- Inlined: read twice, and DuckDB would otherwise store every column of the paid lines first.
purchased_items as {{ inlined_cte() }} (
    select * from {{ ref('fct_order_items') }}
    where is_net_paid
),

products as (
    select * from {{ ref('dim_products') }}
),

affinities as (
    select * from {{ ref('category_affinity') }}
),

-- Products bought once in a long while (no consumption cycle) lead to other categories.
low_repurchase_purchases as (
    select
        purchased_items.customer_id,
        purchased_items.category as source_category,
        max(purchased_items.paid_on) as source_purchased_on
    from purchased_items
    inner join products
        on purchased_items.sku_id = products.sku_id
    where not products.is_periodic_consumable
    group by purchased_items.customer_id, purchased_items.category
),

bought_categories as (
    select distinct
        customer_id,
        category
    from purchased_items
),

candidates as (
    select
        low_repurchase_purchases.customer_id,
        low_repurchase_purchases.source_category,
        low_repurchase_purchases.source_purchased_on,
        affinities.target_category,
        affinities.priority,
        affinities.reason,
        {{ as_of_date() }} as as_of_date
    from low_repurchase_purchases
    inner join affinities
        on low_repurchase_purchases.source_category = affinities.source_category
    left join bought_categories
        on
            low_repurchase_purchases.customer_id = bought_categories.customer_id
            and affinities.target_category = bought_categories.category
    where bought_categories.category is null
),

-- One row per customer and target category: the strongest affinity wins.
ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, target_category
            order by priority asc, source_purchased_on desc, source_category asc
        ) as affinity_rank
    from candidates
),

final as (
    select
        customer_id,
        target_category,
        source_category,
        source_purchased_on,
        priority,
        reason,
        as_of_date
    from ranked
    where affinity_rank = 1
)

select * from final
