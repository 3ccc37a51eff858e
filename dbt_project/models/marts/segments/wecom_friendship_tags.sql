{#-
    Every current friendship (staff, customer) as of the night, with the WeCom tags it should
    carry: those of the segments mapped to a tag (meta.segment.wecom_tag) that the customer is
    exported in tonight. The publisher diffs it with the previous published night into one
    mark_tag call per friendship (orchestration/publishing/wecom.py).
-#}

with

-- A friendship's latest event says whether it stands. WeCom knows the friend by the id of
-- the friend events (their external_userid), the segments by their person.
latest_events as (
    select
        staff_id,
        source_customer_id,
        customer_id as person_id,
        is_friend_after_event,
        row_number() over (
            partition by staff_id, source_customer_id
            order by event_at desc, event_id desc
        ) as recency_rank
    from {{ ref('fct_friend_events') }}
),

friendships as (
    select
        staff_id,
        source_customer_id,
        person_id
    from latest_events
    where recency_rank = 1 and is_friend_after_event
),

-- Two segments may map to the same tag: once is enough.
mapped_tags as (
    select distinct
        membership.customer_id,
        mapped_segments.wecom_tag
    from {{ ref('segment_membership') }} as membership
    inner join {{ ref('segment_catalog') }} as mapped_segments
        on membership.segment_name = mapped_segments.segment_name
    where
        membership.as_of_date = {{ as_of_date() }}
        and membership.is_exported
        and mapped_segments.wecom_tag is not null
),

customer_tags as (
    select
        customer_id,
        {{ sorted_listagg('wecom_tag', "'|'") }} as wecom_tags
    from mapped_tags
    group by customer_id
),

final as (
    select
        friendships.staff_id,
        friendships.source_customer_id as customer_id,
        coalesce(customer_tags.wecom_tags, '') as wecom_tags,
        {{ as_of_date() }} as as_of_date
    from friendships
    left join customer_tags
        on friendships.person_id = customer_tags.customer_id
)

select * from final
