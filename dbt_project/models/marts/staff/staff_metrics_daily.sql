{#-
    Every staff member × day from the staff member's first friendship change or chat to the
    as-of date: the day's friend changes and chats, the median first-response time, and the
    customers the staff member had not contacted in the last 30 days (var
    staff_uncontacted_days) at the end of the day.
-#}

with

friend_events as (
    select * from {{ ref('fct_friend_events') }}
    where friend_delta <> 0
),

chats as (
    select * from {{ ref('fct_interactions') }}
    where
        staff_id is not null
        and interaction_type in ('chat_in', 'chat_out')
),

friend_days as (
    select
        staff_id,
        event_on as metric_on,
        count(case when friend_delta = 1 then 1 end) as friends_added,
        count(case when event_type = 'delete_by_customer' then 1 end)
            as friends_deleted_by_customer,
        count(case when event_type = 'delete_by_staff' then 1 end)
            as friends_deleted_by_staff
    from friend_events
    group by 1, 2
),

chat_days as (
    select
        staff_id,
        interacted_on as metric_on,
        count(case when interaction_type = 'chat_in' then 1 end) as chats_in,
        count(case when interaction_type = 'chat_out' then 1 end) as chats_out,
        count(distinct customer_id) as customers_chatted
    from chats
    group by 1, 2
),

-- The median without interpolating by hand: the middle response, or the mean of the two
-- middle ones (percentile_cont, standard SQL on DuckDB and Spark).
response_days as (
    select
        staff_id,
        waited_from_on as metric_on,
        count(*) as responses_measured,
        percentile_cont(0.5) within group (order by response_seconds)
            as median_first_response_seconds
    from {{ ref('staff_first_responses') }}
    group by 1, 2
),

-- Customers not contacted: the days a friendship is on at the end of the day and no chat_out
-- to the customer fell in the staff_uncontacted_days days up to it, as spans [from, until).
friendships as (
    select
        added.staff_id,
        added.customer_id,
        added.event_on as friend_from_on,
        coalesce(ended.event_on, {{ add_days(as_of_date(), 1) }}) as friend_until_on
    from friend_events as added
    left join friend_events as ended
        on
            added.staff_id = ended.staff_id
            and added.customer_id = ended.customer_id
            and added.friendship_number = ended.friendship_number
            and ended.friend_delta = -1
    where added.friend_delta = 1
),

contact_days as (
    select distinct
        staff_id,
        customer_id,
        interacted_on as contacted_on
    from chats
    where interaction_type = 'chat_out'
),

-- The spans no contact covers (null = unbounded): before the first contact, and from the
-- end of a contact's window to the next contact.
uncovered as (
    select
        staff_id,
        customer_id,
        cast(null as date) as uncovered_from_on,
        min(contacted_on) as uncovered_until_on
    from contact_days
    group by 1, 2

    union all

    select
        staff_id,
        customer_id,
        {{ add_days('contacted_on', var('staff_uncontacted_days')) }} as uncovered_from_on,
        lead(contacted_on) over (
            partition by staff_id, customer_id
            order by contacted_on
        ) as uncovered_until_on
    from contact_days
),

uncontacted_spans as (
    select
        friendships.staff_id,
        greatest(
            friendships.friend_from_on,
            coalesce(uncovered.uncovered_from_on, friendships.friend_from_on)
        ) as span_from_on,
        least(
            friendships.friend_until_on,
            coalesce(uncovered.uncovered_until_on, friendships.friend_until_on)
        ) as span_until_on
    from friendships
    left join uncovered
        on
            friendships.staff_id = uncovered.staff_id
            and friendships.customer_id = uncovered.customer_id
),

span_changes as (
    select
        staff_id,
        span_from_on as metric_on,
        1 as span_change
    from uncontacted_spans
    where span_from_on < span_until_on

    union all

    select
        staff_id,
        span_until_on as metric_on,
        -1 as span_change
    from uncontacted_spans
    where span_from_on < span_until_on
),

uncontacted_changes as (
    select
        staff_id,
        metric_on,
        cast(sum(span_change) as bigint) as uncontacted_change
    from span_changes
    group by 1, 2
),

active_days as (
    select
        staff_id,
        metric_on
    from friend_days

    union all

    select
        staff_id,
        metric_on
    from chat_days
),

staff as (
    select
        staff_id,
        min(metric_on) as first_metric_on
    from active_days
    group by 1
),

spine as (
    select
        calendar.day_on as metric_on,
        staff.staff_id
    from staff
    inner join {{ ref('int_days') }} as calendar
        on staff.first_metric_on <= calendar.day_on
),

filled as (
    select
        spine.metric_on,
        spine.staff_id,
        coalesce(friend_days.friends_added, 0) as friends_added,
        coalesce(friend_days.friends_deleted_by_customer, 0) as friends_deleted_by_customer,
        coalesce(friend_days.friends_deleted_by_staff, 0) as friends_deleted_by_staff,
        coalesce(chat_days.chats_in, 0) as chats_in,
        coalesce(chat_days.chats_out, 0) as chats_out,
        coalesce(chat_days.customers_chatted, 0) as customers_chatted,
        coalesce(response_days.responses_measured, 0) as responses_measured,
        response_days.median_first_response_seconds,
        coalesce(uncontacted_changes.uncontacted_change, 0) as uncontacted_change
    from spine
    left join friend_days
        on
            spine.staff_id = friend_days.staff_id
            and spine.metric_on = friend_days.metric_on
    left join chat_days
        on
            spine.staff_id = chat_days.staff_id
            and spine.metric_on = chat_days.metric_on
    left join response_days
        on
            spine.staff_id = response_days.staff_id
            and spine.metric_on = response_days.metric_on
    left join uncontacted_changes
        on
            spine.staff_id = uncontacted_changes.staff_id
            and spine.metric_on = uncontacted_changes.metric_on
),

final as (
    select
        metric_on,
        staff_id,
        friends_added,
        friends_deleted_by_customer,
        friends_deleted_by_staff,
        chats_in,
        chats_out,
        customers_chatted,
        responses_measured,
        median_first_response_seconds,
        cast(sum(uncontacted_change) over (
            partition by staff_id
            order by metric_on
            rows between unbounded preceding and current row
        ) as bigint) as customers_not_contacted,
        {{ as_of_date() }} as as_of_date
    from filled
)

select * from final
