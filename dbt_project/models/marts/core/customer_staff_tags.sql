-- The tags staff set by hand that each customer carries at the end of the night: set on a
-- friendship and not removed since, of a tag not deleted from the library by then. The same
-- tag from two staff members is one row, with the latest to set it.

with

tag_events as (
    select * from {{ ref('fct_staff_tag_events') }}
    where tag_delta <> 0 and not is_warehouse_sync
),

library as (
    select * from {{ ref('dim_tag_library') }}
    where not is_deleted
),

-- The latest counted event of a tag on a friendship says whether it holds tonight.
latest as (
    select
        *,
        row_number() over (
            partition by staff_id, source_customer_id, tag_group, tag_name
            order by event_at desc
        ) as recency_rank
    from tag_events
),

held as (
    select latest.*
    from latest
    inner join library
        on
            latest.tag_group = library.tag_group
            and latest.tag_name = library.tag_name
    where latest.recency_rank = 1 and latest.tag_delta = 1
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, tag_group, tag_name
            order by event_at desc, staff_id asc
        ) as setter_rank,
        count(*) over (partition by customer_id, tag_group, tag_name) as friendship_count
    from held
),

final as (
    select
        customer_id,
        tag_group,
        tag_name,
        staff_id as set_by_staff_id,
        event_at as set_at,
        event_on as set_on,
        cast(friendship_count as integer) as friendship_count,
        {{ as_of_date() }} as as_of_date
    from ranked
    where setter_rank = 1
)

select * from final
