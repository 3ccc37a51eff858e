-- Content viewing per customer and topic (素材雷达): which topics a customer reads, and how
-- long, as of the night. The tag tag_content_viewing summarises the last 30 days of it.
with

views as (
    select
        customer_id,
        topic,
        interacted_on,
        -- An open without a duration was seen, for no measured time.
        coalesce(duration_seconds, 0) as view_seconds,
        {{ days_between('interacted_on', as_of_date()) }} as days_ago
    from {{ ref('fct_interactions') }}
    where interaction_type = 'content_open' and topic is not null
),

topics as (
    select
        customer_id,
        topic,
        count(*) as open_count,
        sum(view_seconds) as view_seconds,
        sum(case when days_ago < 30 then 1 else 0 end) as open_count_30d,
        sum(case when days_ago < 30 then view_seconds else 0 end) as view_seconds_30d,
        max(interacted_on) as last_viewed_on
    from views
    group by customer_id, topic
),

final as (
    select
        customer_id,
        topic,
        cast(open_count as integer) as open_count,
        cast(view_seconds as integer) as view_seconds,
        cast(open_count_30d as integer) as open_count_30d,
        cast(view_seconds_30d as integer) as view_seconds_30d,
        last_viewed_on,
        -- The topic's part of all the customer's seconds on content with a topic.
        case
            when sum(view_seconds) over (partition by customer_id) > 0
                then
                    cast(view_seconds as double)
                    / sum(view_seconds) over (partition by customer_id)
        end as view_seconds_share,
        {{ as_of_date() }} as as_of_date
    from topics
)

select * from final
