with

customers as (
    select * from {{ ref('dim_customers') }}
),

purchases as (
    select * from {{ ref('fct_orders') }}
    where is_net_paid
),

shares as (
    select
        customer_id,
        -- A double on every engine (Spark would keep a decimal: docs/spark.md).
        cast(1.0 * sum(case when has_discount then 1 else 0 end) / count(*) as double)
            as discount_order_share
    from purchases
    group by customer_id
),

final as (
    select
        customers.customer_id,
        shares.discount_order_share,
        case
            when shares.discount_order_share is null then null
            when shares.discount_order_share >= {{ var('tag_price_sensitivity_bounds')[1] }}
                then 'high'
            when shares.discount_order_share >= {{ var('tag_price_sensitivity_bounds')[0] }}
                then 'medium'
            else 'low'
        end as price_sensitivity
    from customers
    left join shares
        on customers.customer_id = shares.customer_id
)

select * from final
