-- Content viewing time (素材雷达): how long the customer read the content they opened, and on
-- which topic they spent the most of it, over the last 30 days.
with

customers as (
    select * from {{ ref('dim_customers') }}
),

recent_views as (
    select
        customer_id,
        topic,
        -- An open without a duration was seen, for no measured time.
        coalesce(duration_seconds, 0) as view_seconds
    from {{ ref('fct_interactions') }}
    where
        interaction_type = 'content_open'
        and {{ days_between('interacted_on', as_of_date()) }} < 30
),

totals as (
    select
        customer_id,
        sum(view_seconds) as content_view_seconds_30d
    from recent_views
    group by customer_id
),

topics as (
    select
        customer_id,
        topic,
        row_number() over (
            partition by customer_id
            order by sum(view_seconds) desc, topic
        ) as topic_rank
    from recent_views
    where topic is not null
    group by customer_id, topic
    having sum(view_seconds) > 0
),

final as (
    select
        customers.customer_id,
        cast(coalesce(totals.content_view_seconds_30d, 0) as integer) as content_view_seconds_30d,
        topics.topic as top_viewed_topic_30d
    from customers
    left join totals
        on customers.customer_id = totals.customer_id
    left join topics
        on
            customers.customer_id = topics.customer_id
            and topics.topic_rank = 1
)

select * from final
