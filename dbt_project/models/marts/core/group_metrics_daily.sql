{#-
    Every day × group from the group's creation to the as-of date (or its dismissal), as
    WeCom's group dashboard (客户群统计) shows it: members who joined, who left (a dismissal
    removes everyone still in), net, and the total at the end of the day, which a quiet day
    carries over.
-#}

with

groups as (
    select * from {{ ref('dim_groups') }}
),

member_events as (
    select * from {{ ref('fct_group_member_events') }}
    where member_delta <> 0
),

daily as (
    select
        group_id,
        event_on,
        count(case when member_delta = 1 then 1 end) as members_joined,
        count(case when member_delta = -1 then 1 end) as members_left
    from member_events
    group by group_id, event_on
),

-- Everyone still in when the group was dismissed leaves with it, on its dismissal day.
dismissals as (
    select
        groups.group_id,
        groups.dismissed_on as event_on,
        coalesce(sum(member_events.member_delta), 0) as members_removed
    from groups
    left join member_events
        on groups.group_id = member_events.group_id
    where groups.is_dismissed
    group by groups.group_id, groups.dismissed_on
),

spans as (
    select
        groups.group_id,
        case
            when min(daily.event_on) < groups.created_on then min(daily.event_on)
            else groups.created_on
        end as first_day,
        coalesce(groups.dismissed_on, {{ as_of_date() }}) as last_day
    from groups
    left join daily
        on groups.group_id = daily.group_id
    group by groups.group_id, groups.created_on, groups.dismissed_on
),

spine as (
    select
        spans.group_id,
        calendar.day_on as event_on
    from spans
    inner join {{ ref('int_days') }} as calendar
        on
            spans.first_day <= calendar.day_on
            and spans.last_day >= calendar.day_on
),

filled as (
    select
        spine.group_id,
        spine.event_on,
        cast(coalesce(daily.members_joined, 0) as bigint) as members_joined,
        cast(
            coalesce(daily.members_left, 0) + coalesce(dismissals.members_removed, 0) as bigint
        ) as members_left,
        dismissals.group_id is not null as is_dismissal_day
    from spine
    left join daily
        on
            spine.group_id = daily.group_id
            and spine.event_on = daily.event_on
    left join dismissals
        on
            spine.group_id = dismissals.group_id
            and spine.event_on = dismissals.event_on
),

final as (
    select
        filled.event_on,
        filled.group_id,
        groups.group_name,
        groups.owner_staff_id,
        filled.members_joined,
        filled.members_left,
        filled.members_joined - filled.members_left as net_members,
        cast(sum(filled.members_joined - filled.members_left) over (
            partition by filled.group_id
            order by filled.event_on
            rows between unbounded preceding and current row
        ) as bigint) as members_total,
        filled.is_dismissal_day,
        {{ as_of_date() }} as as_of_date
    from filled
    inner join groups
        on filled.group_id = groups.group_id
)

select * from final
