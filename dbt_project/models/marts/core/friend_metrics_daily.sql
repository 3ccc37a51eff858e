{#-
    Every day × acquisition channel × staff from that pair's first friendship change to the
    as-of date, with a day's changes (zero on a quiet day) and the running total, so a chart
    of the total never drops to zero on a day without events.
-#}

with

friend_events as (
    select * from {{ ref('fct_friend_events') }}
    where friend_delta <> 0
),

daily as (
    select
        event_on,
        coalesce(acquisition_channel_code, 'unknown') as channel_code,
        staff_id,
        count(case when friend_delta = 1 then 1 end) as friends_added,
        count(case when event_type = 'delete_by_customer' then 1 end)
            as friends_deleted_by_customer,
        count(case when event_type = 'delete_by_staff' then 1 end)
            as friends_deleted_by_staff,
        cast(sum(friend_delta) as bigint) as net_friends
    from friend_events
    group by 1, 2, 3
),

pairs as (
    select
        channel_code,
        staff_id,
        min(event_on) as first_event_on
    from daily
    group by 1, 2
),

spine as (
    select
        calendar.day_on as event_on,
        pairs.channel_code,
        pairs.staff_id
    from pairs
    inner join {{ ref('int_days') }} as calendar
        on pairs.first_event_on <= calendar.day_on
),

filled as (
    select
        spine.event_on,
        spine.channel_code,
        spine.staff_id,
        coalesce(daily.friends_added, 0) as friends_added,
        coalesce(daily.friends_deleted_by_customer, 0) as friends_deleted_by_customer,
        coalesce(daily.friends_deleted_by_staff, 0) as friends_deleted_by_staff,
        coalesce(daily.net_friends, 0) as net_friends
    from spine
    left join daily
        on
            spine.event_on = daily.event_on
            and spine.channel_code = daily.channel_code
            and spine.staff_id = daily.staff_id
),

final as (
    select
        *,
        cast(sum(net_friends) over (
            partition by channel_code, staff_id
            order by event_on
            rows between unbounded preceding and current row
        ) as bigint) as friends_total,
        {{ as_of_date() }} as as_of_date
    from filled
)

select * from final
