-- 删除提醒: the customers who deleted a staff member on the as-of day, with what they were
-- worth, for the staff member to win back.
with

friend_events as (
    select * from {{ ref('fct_friend_events') }}
),

deletions as (
    select * from friend_events
    where
        event_type = 'delete_by_customer'
        and friend_delta = -1
        and event_on = {{ as_of_date() }}
),

-- The add that started the friendship the deletion ends.
adds as (
    select * from friend_events
    where friend_delta = 1
),

profile as (
    select
        customer_id,
        customer_value_tier
    from {{ ref('customer_profile') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

final as (
    select
        deletions.event_id,
        deletions.staff_id,
        deletions.customer_id,
        deletions.event_at as deleted_at,
        adds.event_at as friend_added_at,
        {{ days_between('adds.event_on', 'deletions.event_on') }} as friend_days,
        deletions.acquisition_channel_code,
        profile.customer_value_tier,
        lifecycle.lifecycle_stage,
        lifecycle.previous_stage,
        {{ as_of_date() }} as as_of_date
    from deletions
    left join adds
        on
            deletions.customer_id = adds.customer_id
            and deletions.staff_id = adds.staff_id
            and deletions.friendship_number = adds.friendship_number
    left join profile
        on deletions.customer_id = profile.customer_id
    left join lifecycle
        on deletions.customer_id = lifecycle.customer_id
)

select * from final
