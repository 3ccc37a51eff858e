{%- set referral = var('tag_referral_willingness') %}

with

customers as (
    select * from {{ ref('dim_customers') }}
),

-- What the customer did: every interaction but the staff's own chat messages.
customer_interactions as (
    select
        *,
        {{ days_between('interacted_on', as_of_date()) }} as days_ago
    from {{ ref('fct_interactions') }}
    where interaction_type <> 'chat_out'
),

summary as (
    select
        customer_id,
        sum(case when days_ago < 30 then 1 else 0 end) as interactions_30d,
        sum(case when days_ago < 30 and interaction_type = 'chat_in' then 1 else 0 end)
            as chat_count_30d,
        sum(case when days_ago < 30 and interaction_type = 'group_message' then 1 else 0 end)
            as group_message_count_30d,
        sum(case when interaction_type = 'share' then 1 else 0 end) as share_count,
        sum(case when interaction_type = 'invite' then 1 else 0 end) as invite_count,
        max(case when interaction_type = 'review' then 1 else 0 end) = 1 as has_reviewed,
        min(days_ago) as days_since_last_interaction
    from customer_interactions
    group by customer_id
),

opened_topics as (
    select
        customer_id,
        topic,
        row_number() over (
            partition by customer_id
            order by count(*) desc, topic
        ) as open_rank
    from customer_interactions
    where interaction_type = 'content_open' and topic is not null
    group by customer_id, topic
),

-- Shares, and invites worth invite_weight shares each: what the willingness band is cut from.
referral as (
    select
        customer_id,
        share_count + {{ referral['invite_weight'] }} * invite_count as referral_points
    from summary
),

final as (
    select
        customers.customer_id,
        case
            when
                coalesce(summary.interactions_30d, 0)
                >= {{ var('tag_interaction_level_bounds')[2] }}
                then 3
            when
                coalesce(summary.interactions_30d, 0)
                >= {{ var('tag_interaction_level_bounds')[1] }}
                then 2
            when
                coalesce(summary.interactions_30d, 0)
                >= {{ var('tag_interaction_level_bounds')[0] }}
                then 1
            else 0
        end as interaction_level,
        cast(coalesce(summary.chat_count_30d, 0) as integer) as chat_count_30d,
        cast(coalesce(summary.group_message_count_30d, 0) as integer) as group_message_count_30d,
        opened_topics.topic as content_preference,
        cast(coalesce(summary.share_count, 0) as integer) as share_count,
        cast(coalesce(summary.invite_count, 0) as integer) as invite_count,
        case
            when coalesce(referral.referral_points, 0) >= {{ referral['bounds'][2] }} then 'high'
            when coalesce(referral.referral_points, 0) >= {{ referral['bounds'][1] }} then 'medium'
            when coalesce(referral.referral_points, 0) >= {{ referral['bounds'][0] }} then 'low'
            else 'none'
        end as referral_willingness,
        coalesce(summary.has_reviewed, false) as has_reviewed,
        coalesce(summary.days_since_last_interaction < 7, false) as is_active_7d,
        coalesce(summary.days_since_last_interaction < 15, false) as is_active_15d,
        coalesce(summary.days_since_last_interaction < 30, false) as is_active_30d
    from customers
    left join summary
        on customers.customer_id = summary.customer_id
    left join referral
        on customers.customer_id = referral.customer_id
    left join opened_topics
        on
            customers.customer_id = opened_topics.customer_id
            and opened_topics.open_rank = 1
)

select * from final
