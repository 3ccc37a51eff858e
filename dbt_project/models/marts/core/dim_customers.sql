with

-- Each customer's attributes as they were on the night.
customers as (
    select * from {{ ref('dim_customer_history') }}
    where is_current
),

friend_events as (
    select * from {{ ref('fct_friend_events') }}
),

first_activity as (
    select * from {{ ref('int_customer_first_activity') }}
),

first_friendships as (
    select
        customer_id,
        event_at as first_friend_added_at,
        acquisition_channel_code as first_channel_code,
        staff_id as first_staff_id,
        row_number() over (partition by customer_id order by event_at, event_id) as add_rank
    from friend_events
    where friend_delta = 1
),

-- The state of each friendship after its latest event, then summarised per customer.
friendship_states as (
    select
        customer_id,
        event_type,
        is_friend_after_event,
        event_at,
        row_number() over (
            partition by customer_id, staff_id
            order by event_at desc, event_id desc
        ) as recency_rank
    from friend_events
),

friend_statuses as (
    select
        customer_id,
        count(case when is_friend_after_event then 1 end) as current_friend_staff_count,
        max(case when not is_friend_after_event then event_at end) as last_deleted_at,
        max(case when event_type = 'delete_by_customer' then event_at end)
            as last_deleted_by_customer_at,
        max(case when event_type = 'delete_by_staff' then event_at end)
            as last_deleted_by_staff_at
    from friendship_states
    where recency_rank = 1
    group by customer_id
),

-- The history holds only the customers known on the night (dim_customer_history).
known_customers as (
    select
        customers.*,
        first_activity.first_activity_at
    from customers
    left join first_activity
        on customers.customer_id = first_activity.customer_id
),

final as (
    select
        known_customers.customer_id,

        -- attributes as recorded
        known_customers.gender,
        known_customers.birth_date,
        known_customers.province,
        known_customers.city,
        known_customers.member_level,
        known_customers.registered_at,
        known_customers.identity,
        known_customers.skin_type,
        known_customers.invalid_fields,

        -- first contact
        least(known_customers.registered_at, known_customers.first_activity_at)
            as first_seen_at,
        first_friendships.first_friend_added_at,
        first_friendships.first_channel_code,
        first_friendships.first_staff_id,

        -- friendship now
        coalesce(friend_statuses.current_friend_staff_count, 0) as current_friend_staff_count,
        case
            when friend_statuses.current_friend_staff_count > 0 then 'current_friend'
            when friend_statuses.last_deleted_at is null then 'never_friend'
            when friend_statuses.last_deleted_by_customer_at = friend_statuses.last_deleted_at
                then 'deleted_by_customer'
            else 'deleted_by_staff'
        end as friend_status,

        {{ as_of_date() }} as as_of_date
    from known_customers
    left join first_friendships
        on
            known_customers.customer_id = first_friendships.customer_id
            and first_friendships.add_rank = 1
    left join friend_statuses
        on known_customers.customer_id = friend_statuses.customer_id
)

select * from final
