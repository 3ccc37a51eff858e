-- Group membership as of the night: one row per group and customer id that was ever in it,
-- with the latest stint (when it began, how, and when and why it ended).

with

member_events as (
    select * from {{ ref('fct_group_member_events') }}
    where member_delta <> 0
),

groups as (
    select * from {{ ref('dim_groups') }}
),

-- The latest counted event of each membership says whether it holds tonight.
ranked as (
    select
        *,
        row_number() over (
            partition by group_id, source_customer_id
            order by event_at desc
        ) as recency_rank,
        min(case when member_delta = 1 then event_at end) over (
            partition by group_id, source_customer_id
        ) as first_joined_at,
        count(case when member_delta = 1 then 1 end) over (
            partition by group_id, source_customer_id
        ) as join_count
    from member_events
),

latest_joins as (
    select
        group_id,
        source_customer_id,
        event_at as joined_at,
        join_scene,
        row_number() over (
            partition by group_id, source_customer_id
            order by event_at desc
        ) as join_rank
    from member_events
    where member_delta = 1
),

final as (
    select
        ranked.group_id,
        ranked.customer_id,
        ranked.source_customer_id,
        ranked.first_joined_at,
        latest_joins.joined_at,
        cast(latest_joins.joined_at as date) as joined_on,
        latest_joins.join_scene,
        cast(ranked.join_count as integer) as join_count,
        case
            when ranked.member_delta = -1 then ranked.event_at
            else groups.dismissed_at
        end as left_at,
        cast(case
            when ranked.member_delta = -1 then ranked.event_at
            else groups.dismissed_at
        end as date) as left_on,
        ranked.member_delta = 1 and groups.dismissed_at is not null as left_by_dismissal,
        ranked.member_delta = 1 and groups.dismissed_at is null as is_member,
        {{ as_of_date() }} as as_of_date
    from ranked
    inner join latest_joins
        on
            ranked.group_id = latest_joins.group_id
            and ranked.source_customer_id = latest_joins.source_customer_id
            and latest_joins.join_rank = 1
    inner join groups
        on ranked.group_id = groups.group_id
    where ranked.recency_rank = 1
)

select * from final
