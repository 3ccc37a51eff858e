with

customers as (
    select * from {{ ref('dim_customers') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
    where ship_province is not null
),

latest_shipments as (
    select
        customer_id,
        ship_province,
        row_number() over (
            partition by customer_id
            order by ordered_at desc, order_id desc
        ) as recency_rank
    from orders
),

final as (
    select
        customers.customer_id,
        customers.first_channel_code,
        customers.first_staff_id,
        customers.friend_status,
        latest_shipments.ship_province as last_ship_province
    from customers
    left join latest_shipments
        on
            customers.customer_id = latest_shipments.customer_id
            and latest_shipments.recency_rank = 1
)

select * from final
