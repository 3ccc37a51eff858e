with

friend_events as (
    select * from {{ ref('fct_friend_events') }}
),

interactions as (
    select * from {{ ref('fct_interactions') }}
    where staff_id is not null
),

friendship_totals as (
    select
        staff_id,
        min(event_at) as first_friend_event_at,
        count(case when friend_delta = 1 then 1 end) as friends_added,
        count(case when event_type = 'delete_by_customer' and friend_delta = -1 then 1 end)
            as friends_deleted_by_customer,
        count(case when event_type = 'delete_by_staff' and friend_delta = -1 then 1 end)
            as friends_deleted_by_staff,
        cast(sum(friend_delta) as bigint) as current_friends
    from friend_events
    group by staff_id
),

interaction_totals as (
    select
        staff_id,
        min(interacted_at) as first_interaction_at,
        count(*) as interactions
    from interactions
    group by staff_id
),

final as (
    select
        coalesce(friendship_totals.staff_id, interaction_totals.staff_id) as staff_id,
        least(
            friendship_totals.first_friend_event_at, interaction_totals.first_interaction_at
        ) as first_seen_at,
        coalesce(friendship_totals.friends_added, 0) as friends_added,
        coalesce(friendship_totals.friends_deleted_by_customer, 0)
            as friends_deleted_by_customer,
        coalesce(friendship_totals.friends_deleted_by_staff, 0) as friends_deleted_by_staff,
        coalesce(friendship_totals.current_friends, 0) as current_friends,
        coalesce(interaction_totals.interactions, 0) as interactions,
        {{ as_of_date() }} as as_of_date
    from friendship_totals
    full outer join interaction_totals
        on friendship_totals.staff_id = interaction_totals.staff_id
)

select * from final
