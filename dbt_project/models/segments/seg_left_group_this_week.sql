-- Left a customer group in the last N days (本周退群): staff ask why while it is fresh, and
-- invite them back or to a better-fitting group. A list for staff, not a push.
{%- set criteria = [
    {
        'column': 'days_since_left_group',
        'op': '<',
        'value': var('segment_left_group_days'),
    },
    {'column': 'groups_left'},
] %}

with

customers as (
    select * from {{ ref('dim_customers') }}
),

-- Leaves of the customer's own: a dismissal is the owner's doing, not the member's.
leaves as (
    select * from {{ ref('fct_group_member_events') }}
    where
        member_delta = -1
        and {{ days_between('event_on', as_of_date()) }} < {{ var('segment_left_group_days') }}
),

groups as (
    select * from {{ ref('dim_groups') }}
),

memberships as (
    select
        customer_id,
        count(distinct group_id) as group_count
    from {{ ref('group_memberships') }}
    where is_member
    group by customer_id
),

latest_leaves as (
    select
        leaves.customer_id,
        leaves.group_id as last_left_group_id,
        groups.group_name as last_left_group_name,
        leaves.event_on as last_left_on,
        count(*) over (partition by leaves.customer_id) as groups_left,
        row_number() over (
            partition by leaves.customer_id
            order by leaves.event_at desc, leaves.group_id asc
        ) as leave_rank
    from leaves
    inner join groups
        on leaves.group_id = groups.group_id
),

leavers as (
    select
        customers.customer_id,
        latest_leaves.last_left_on,
        latest_leaves.last_left_group_id,
        latest_leaves.last_left_group_name,
        cast(latest_leaves.groups_left as integer) as groups_left,
        cast(coalesce(memberships.group_count, 0) as integer) as group_count,
        customers.friend_status,
        {{ days_between('latest_leaves.last_left_on', as_of_date()) }} as days_since_left_group
    from customers
    inner join latest_leaves
        on
            customers.customer_id = latest_leaves.customer_id
            and latest_leaves.leave_rank = 1
    left join memberships
        on customers.customer_id = memberships.customer_id
),

final as (
    select
        customer_id,
        last_left_on,
        last_left_group_id,
        last_left_group_name,
        groups_left,
        group_count,
        friend_status,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from leavers
    where {{ segment_where(criteria) }}
)

select * from final
