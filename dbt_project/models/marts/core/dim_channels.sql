with

friend_events as (
    select * from {{ ref('fct_friend_events') }}
),

adds as (
    select
        channel_code,
        channel_name,
        event_at,
        row_number() over (partition by channel_code order by event_at desc, event_id desc)
            as recency_rank
    from friend_events
    where friend_delta = 1 and channel_code is not null
),

latest_names as (
    select
        channel_code,
        channel_name
    from adds
    where recency_rank = 1
),

totals as (
    select
        acquisition_channel_code as channel_code,
        min(case when friend_delta = 1 then event_at end) as first_friend_added_at,
        count(case when friend_delta = 1 then 1 end) as friends_added,
        count(case when friend_delta = -1 then 1 end) as friends_deleted,
        cast(sum(friend_delta) as bigint) as current_friends
    from friend_events
    where acquisition_channel_code is not null
    group by acquisition_channel_code
),

final as (
    select
        totals.channel_code,
        latest_names.channel_name,
        totals.first_friend_added_at,
        totals.friends_added,
        totals.friends_deleted,
        totals.current_friends,
        {{ as_of_date() }} as as_of_date
    from totals
    left join latest_names
        on totals.channel_code = latest_names.channel_code
)

select * from final
