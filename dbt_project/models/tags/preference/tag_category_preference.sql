with

customers as (
    select * from {{ ref('dim_customers') }}
),

purchased_items as (
    select * from {{ ref('fct_order_items') }}
    where is_net_paid
),

products as (
    select * from {{ ref('dim_products') }}
),

items as (
    select
        purchased_items.customer_id,
        purchased_items.category,
        purchased_items.line_amount_cny,
        purchased_items.paid_on,
        products.is_periodic_consumable,
        cast(products.launched_at as date) as launched_on
    from purchased_items
    inner join products
        on purchased_items.sku_id = products.sku_id
),

category_spend as (
    select
        customer_id,
        category,
        sum(line_amount_cny) as spend_cny
    from items
    group by customer_id, category
),

ranked_categories as (
    select
        customer_id,
        category,
        spend_cny,
        sum(spend_cny) over (partition by customer_id) as total_spend_cny,
        row_number() over (
            partition by customer_id
            order by spend_cny desc, category asc
        ) as spend_rank
    from category_spend
),

buyer_kinds as (
    select
        customer_id,
        max(case when is_periodic_consumable then 1 else 0 end) = 1
            as is_periodic_consumable_buyer,
        max(case when not is_periodic_consumable then 1 else 0 end) = 1
            as is_low_repurchase_buyer,
        max(
            case
                when
                    launched_on is not null
                    and {{ days_between('launched_on', 'paid_on') }} between 0
                    and {{ var('tag_new_product_days') }} - 1
                    then 1
                else 0
            end
        ) = 1 as bought_new_product
    from items
    group by customer_id
),

final as (
    select
        customers.customer_id,
        ranked_categories.category as top_category,
        -- A double on every engine, divided as doubles: Spark divides decimals to 9 places
        -- (docs/spark.md), which the tag's text value would show.
        case
            when ranked_categories.total_spend_cny > 0
                then
                    cast(ranked_categories.spend_cny as double)
                    / cast(ranked_categories.total_spend_cny as double)
        end as top_category_share,
        coalesce(buyer_kinds.bought_new_product, false) as bought_new_product,
        coalesce(buyer_kinds.is_periodic_consumable_buyer, false)
            as is_periodic_consumable_buyer,
        coalesce(buyer_kinds.is_low_repurchase_buyer, false) as is_low_repurchase_buyer
    from customers
    left join ranked_categories
        on
            customers.customer_id = ranked_categories.customer_id
            and ranked_categories.spend_rank = 1
    left join buyer_kinds
        on customers.customer_id = buyer_kinds.customer_id
)

select * from final
