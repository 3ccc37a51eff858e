with

customers as (
    select * from {{ ref('dim_customers') }}
),

topic_categories as (
    select * from {{ ref('topic_categories') }}
),

-- Interest: the customer opened content on a topic or asked about it in a chat.
recent_interest as (
    select
        customer_id,
        topic,
        count(*) as interest_count
    from {{ ref('fct_interactions') }}
    where
        interaction_type in ('content_open', 'chat_in')
        and topic is not null
        and {{ days_between('interacted_on', as_of_date()) }} < {{ var('tag_intent_days') }}
    group by customer_id, topic
),

recent_purchased_topics as (
    select distinct
        purchased_items.customer_id,
        topic_categories.topic
    from {{ ref('fct_order_items') }} as purchased_items
    inner join topic_categories
        on purchased_items.category = topic_categories.category
    where
        purchased_items.is_net_paid
        and {{ days_between('purchased_items.paid_on', as_of_date()) }}
        < {{ var('tag_intent_days') }}
),

unmet_interest as (
    select
        recent_interest.customer_id,
        recent_interest.topic,
        row_number() over (
            partition by recent_interest.customer_id
            order by recent_interest.interest_count desc, recent_interest.topic asc
        ) as interest_rank
    from recent_interest
    left join recent_purchased_topics
        on
            recent_interest.customer_id = recent_purchased_topics.customer_id
            and recent_interest.topic = recent_purchased_topics.topic
    where
        recent_purchased_topics.topic is null
        and recent_interest.topic in (select topic_categories.topic from topic_categories)
),

final as (
    select
        customers.customer_id,
        unmet_interest.topic as intent_topic,
        unmet_interest.topic is not null as has_purchase_intent
    from customers
    left join unmet_interest
        on
            customers.customer_id = unmet_interest.customer_id
            and unmet_interest.interest_rank = 1
)

select * from final
