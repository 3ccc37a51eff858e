with

customers as (
    select
        customer_id,
        friend_status
    from {{ ref('dim_customers') }}
),

history as (
    select * from {{ ref('customer_lifecycle_history') }}
),

purchase_days as (
    select * from {{ ref('fct_purchase_days') }}
),

current_stages as (
    select * from history
    where left_on is null
),

-- The latest purchase day carries the first and the one before it: what the stage rules read.
last_purchase_days as (
    select
        customer_id,
        purchase_on as last_purchase_on,
        previous_purchase_on,
        min(purchase_on) over (partition by customer_id) as first_purchase_on,
        next_purchase_on
    from purchase_days
),

latest_purchases as (
    select * from last_purchase_days
    where next_purchase_on is null
),

-- A customer known only from an undated registration has no history yet: a prospect.
-- The reason fields are the values the stage rules compare tonight (macro lifecycle_stage),
-- so a reader can see why: days since the first and the last purchase, the gap before the
-- last one, and the friendship.
final as (
    select
        customers.customer_id,
        coalesce(current_stages.lifecycle_stage, 'prospect') as lifecycle_stage,
        current_stages.entered_on as stage_entered_on,
        current_stages.previous_stage,
        {{ days_between('current_stages.entered_on', as_of_date()) }} as days_in_stage,

        -- reason fields
        {{ days_between('latest_purchases.first_purchase_on', as_of_date()) }}
            as days_since_first_purchase,
        {{ days_between('latest_purchases.last_purchase_on', as_of_date()) }}
            as days_since_last_purchase,
        {{ days_between(
            'latest_purchases.previous_purchase_on', 'latest_purchases.last_purchase_on'
        ) }} as days_between_last_purchases,
        customers.friend_status,

        {{ as_of_date() }} as as_of_date
    from customers
    left join current_stages
        on customers.customer_id = current_stages.customer_id
    left join latest_purchases
        on customers.customer_id = latest_purchases.customer_id
)

select * from final
