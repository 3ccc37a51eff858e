with

customers as (
    select * from {{ ref('dim_customers') }}
),

purchases as (
    select * from {{ ref('fct_orders') }}
    where is_net_paid
),

channels as (
    select
        customer_id,
        sales_channel,
        row_number() over (
            partition by customer_id
            order by count(*) desc, sales_channel asc
        ) as channel_rank
    from purchases
    group by customer_id, sales_channel
),

final as (
    select
        customers.customer_id,
        channels.sales_channel as favourite_sales_channel
    from customers
    left join channels
        on
            customers.customer_id = channels.customer_id
            and channels.channel_rank = 1
)

select * from final
