-- Members joining and leaving the groups of the night, up to it. A membership is one (group,
-- customer id) pair: a join while in the group, or a leave while out of it, changes nothing.
-- A dismissal ends every membership, so nothing after it counts.

with

member_events as (
    select
        *,
        customer_id as source_customer_id
    from {{ ref('int_group_members_validated') }}
    where
        {{ is_clean_row() }}
        and event_at < {{ as_of_end() }}
),

groups as (
    select * from {{ ref('dim_groups') }}
),

in_lifetime as (
    select member_events.*
    from member_events
    inner join groups
        on member_events.group_id = groups.group_id
    where groups.dismissed_at is null or member_events.event_at < groups.dismissed_at
),

sequenced as (
    select
        *,
        lag(event_type) over (
            partition by group_id, source_customer_id
            order by event_at
        ) as previous_event_type
    from in_lifetime
),

effects as (
    select
        *,
        case
            when event_type = 'join' and coalesce(previous_event_type, 'none') <> 'join' then 1
            when event_type = 'leave' and previous_event_type = 'join' then -1
            else 0
        end as member_delta
    from sequenced
),

-- The person each customer id is on the night (docs/identity.md): without links, the id.
persons as (
    select * from {{ ref('int_identity_persons') }}
),

final as (
    select
        effects.group_id,
        coalesce(persons.person_id, effects.source_customer_id) as customer_id,
        effects.source_customer_id,
        effects.event_type,
        case when effects.event_type = 'join' then effects.join_scene end as join_scene,
        effects.event_at,
        cast(effects.event_at as date) as event_on,
        effects.member_delta,
        effects._raw_row_number,
        {{ as_of_date() }} as as_of_date
    from effects
    left join persons
        on effects.source_customer_id = persons.id
)

select * from final
