with

customers as (
    select * from {{ ref('dim_customers') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

repurchase as (
    select * from {{ ref('customer_repurchase') }}
),

recent_purchase_days as (
    select
        customer_id,
        count(*) as purchase_days_365
    from {{ ref('fct_purchase_days') }}
    where {{ days_between('purchase_on', as_of_date()) }} < 365
    group by customer_id
),

-- Interactions the customer started: everything but the staff's own chat messages.
recent_interactions as (
    select
        customer_id,
        count(*) as customer_interactions_90
    from {{ ref('fct_interactions') }}
    where
        interaction_type <> 'chat_out'
        and {{ days_between('interacted_on', as_of_date()) }} < 90
    group by customer_id
),

friendships as (
    select
        customer_id,
        case
            when friend_status = 'current_friend'
                then {{ days_between('cast(first_friend_added_at as date)', as_of_date()) }}
        end as days_as_friend
    from customers
),

final as (
    select
        customers.customer_id,
        lifecycle.lifecycle_stage,
        case
            when rfm.m_score = 5 then 'vip'
            when rfm.m_score = 4 then 'high'
            when rfm.m_score = 3 then 'medium'
            when rfm.m_score is not null then 'low'
            else 'none'
        end as customer_value_tier,
        repurchase.avg_repurchase_interval_days,
        repurchase.first_to_second_days as first_to_second_purchase_days,
        friendships.days_as_friend,
        -- Brand intimacy, 0-100: purchases, conversation, friendship and its length.
        cast(
            least(40, 10 * coalesce(recent_purchase_days.purchase_days_365, 0))
            + least(30, 3 * coalesce(recent_interactions.customer_interactions_90, 0))
            + case when friendships.days_as_friend is not null then 20 else 0 end
            + least(10, floor(coalesce(friendships.days_as_friend, 0) / 30))
            as integer
        ) as brand_intimacy
    from customers
    left join lifecycle
        on customers.customer_id = lifecycle.customer_id
    left join rfm
        on customers.customer_id = rfm.customer_id
    left join repurchase
        on customers.customer_id = repurchase.customer_id
    left join recent_purchase_days
        on customers.customer_id = recent_purchase_days.customer_id
    left join recent_interactions
        on customers.customer_id = recent_interactions.customer_id
    left join friendships
        on customers.customer_id = friendships.customer_id
)

select * from final
