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

final as (
    select
        *,
        cast(sum(net_friends) over (
            partition by channel_code, staff_id
            order by event_on
            rows between unbounded preceding and current row
        ) as bigint) as friends_total,
        {{ as_of_date() }} as as_of_date
    from daily
)

select * from final
