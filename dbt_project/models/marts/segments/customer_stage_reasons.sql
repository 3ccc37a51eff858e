-- Why each customer of the profile is in their lifecycle stage and value tier, as the fields
-- the rules compare; orchestration.reasons words them for the file operators open.
with

profile as (
    select
        customer_id,
        customer_value_tier
    from {{ ref('customer_profile') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

final as (
    select
        profile.customer_id,
        lifecycle.lifecycle_stage,
        lifecycle.days_since_first_purchase,
        lifecycle.days_since_last_purchase,
        lifecycle.days_between_last_purchases,
        lifecycle.friend_status,
        profile.customer_value_tier,
        rfm.m_score,
        rfm.monetary_cny,
        {{ as_of_date() }} as as_of_date
    from profile
    left join lifecycle
        on profile.customer_id = lifecycle.customer_id
    left join rfm
        on profile.customer_id = rfm.customer_id
)

select * from final
