-- Customer groups (客户群): how many groups the customer is in tonight and since when, how
-- much they speak in them, and whether they left one lately.
{%- set bounds = var('tag_group_activity_bounds') %}

with

customers as (
    select * from {{ ref('dim_customers') }}
),

memberships as (
    select
        customer_id,
        count(distinct group_id) as group_count,
        min(joined_on) as first_joined_on
    from {{ ref('group_memberships') }}
    where is_member
    group by customer_id
),

-- A leave of the customer's own (a dismissal is the owner's) in the last 30 days.
recent_leaves as (
    select distinct customer_id
    from {{ ref('fct_group_member_events') }}
    where
        member_delta = -1
        and {{ days_between('event_on', as_of_date()) }} < 30
),

group_messages as (
    select
        customer_id,
        count(*) as group_messages_30d
    from {{ ref('fct_interactions') }}
    where
        interaction_type = 'group_message'
        and {{ days_between('interacted_on', as_of_date()) }} < 30
    group by customer_id
),

final as (
    select
        customers.customer_id,
        cast(coalesce(memberships.group_count, 0) as integer) as group_count,
        cast(
            {{ days_between('memberships.first_joined_on', as_of_date()) }} as integer
        ) as days_in_groups,
        cast(coalesce(group_messages.group_messages_30d, 0) as integer) as group_messages_30d,
        case
            when coalesce(group_messages.group_messages_30d, 0) >= {{ bounds[2] }} then 'high'
            when coalesce(group_messages.group_messages_30d, 0) >= {{ bounds[1] }} then 'medium'
            when coalesce(group_messages.group_messages_30d, 0) >= {{ bounds[0] }} then 'low'
            else 'none'
        end as group_activity,
        recent_leaves.customer_id is not null as left_group_30d
    from customers
    left join memberships
        on customers.customer_id = memberships.customer_id
    left join group_messages
        on customers.customer_id = group_messages.customer_id
    left join recent_leaves
        on customers.customer_id = recent_leaves.customer_id
)

select * from final
