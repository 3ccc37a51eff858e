-- Bought in the last N days and nobody's friend tonight: the friend request after the order
-- (智能加粉). Ranked by what they paid, so staff with little time add the most valuable first.
{%- set criteria = [
    {'column': 'friend_status', 'op': '!=', 'value': 'current_friend'},
    {
        'column': 'days_since_last_purchase',
        'op': '<',
        'value': var('segment_buyers_not_friends_days'),
    },
    {'column': 'paid_amount_cny'},
] %}

with

customers as (
    select * from {{ ref('dim_customers') }}
),

purchases as (
    select * from {{ ref('fct_orders') }}
    where is_net_paid
),

-- The latest purchase says where they bought, and under which buyer id (the shop to look
-- them up in, and the id it knows them by).
latest_purchases as (
    select
        customer_id,
        order_id as last_order_id,
        source_customer_id as last_buyer_id,
        paid_on as last_purchase_on,
        sales_channel as last_purchase_channel,
        row_number() over (
            partition by customer_id
            order by paid_at desc, order_id desc
        ) as purchase_rank
    from purchases
),

spend as (
    select
        customer_id,
        sum(net_paid_amount_cny) as paid_amount_cny
    from purchases
    group by customer_id
),

buyers as (
    select
        customers.customer_id,
        customers.friend_status,
        customers.known_ids,
        latest_purchases.last_order_id,
        latest_purchases.last_buyer_id,
        latest_purchases.last_purchase_on,
        latest_purchases.last_purchase_channel,
        {{ days_between('latest_purchases.last_purchase_on', as_of_date()) }}
            as days_since_last_purchase,
        spend.paid_amount_cny
    from customers
    inner join latest_purchases
        on
            customers.customer_id = latest_purchases.customer_id
            and latest_purchases.purchase_rank = 1
    inner join spend
        on customers.customer_id = spend.customer_id
),

members as (
    select
        *,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from buyers
    where {{ segment_where(criteria) }}
),

final as (
    select
        customer_id,
        row_number() over (
            order by paid_amount_cny desc, last_purchase_on desc, customer_id asc
        ) as value_rank,
        paid_amount_cny,
        last_purchase_on,
        last_purchase_channel,
        last_order_id,
        last_buyer_id,
        known_ids,
        friend_status,
        reason,
        reason_fields
    from members
)

select * from final
