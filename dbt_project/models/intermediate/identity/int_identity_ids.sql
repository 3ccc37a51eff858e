-- Every id known on the night, once: the customer ids of the sources and the ids only links
-- carry (a phone, a unionid). Ranked by age, what decides which id names a person: an id the
-- sources know a customer by before an id only links carry (a person's key is never a bare
-- phone number), then the earliest seen, then by name. Rank 1 is the oldest. The ids known
-- the night before are here too, ranked as they were then (is_night_before), for the persons
-- of that night, which person_merges compares with.

{%- set night_before_end = 'cast(' ~ as_of_date() ~ ' as timestamp)' %}

with

orders as (
    select
        customer_id,
        ordered_at as seen_at
    from {{ ref('int_orders_validated') }}
    where {{ is_clean_row() }} and ordered_at < {{ as_of_end() }}
),

friend_events as (
    select
        customer_id,
        event_at as seen_at
    from {{ ref('int_friend_events_validated') }}
    where {{ is_clean_row() }} and event_at < {{ as_of_end() }}
),

interactions as (
    select
        customer_id,
        interacted_at as seen_at
    from {{ ref('int_interactions_validated') }}
    where {{ is_clean_row() }} and interacted_at < {{ as_of_end() }}
),

-- A customer registered after the night is not known yet; one without a registration date
-- is known, undated.
customers as (
    select
        customer_id,
        registered_at as seen_at
    from {{ ref('stg_raw__customers') }}
    where
        {{ is_clean_row() }}
        and (registered_at is null or registered_at < {{ as_of_end() }})
),

-- Every link up to the night, a withdrawn one too: its ids are known, each its own person.
-- With the links the sources' typed ids give (a buyer phone, a unionid).
links as (
    select
        id_a,
        id_b,
        linked_at
    from {{ ref('int_identity_links_validated') }}
    where {{ is_clean_row() }} and linked_at < {{ as_of_end() }}

    union all

    select
        id_a,
        id_b,
        linked_at
    from {{ ref('int_identity_links_from_sources') }}
    where linked_at < {{ as_of_end() }}
),

-- A customer without a registration date is known on both nights, undated.
source_ids as (
    select
        customer_id as id,
        min(seen_at) as first_seen_at,
        min(case when seen_at < {{ night_before_end }} then seen_at end)
            as first_seen_the_night_before,
        max(case when seen_at is null or seen_at < {{ night_before_end }} then 1 else 0 end) = 1
            as is_known_the_night_before
    from (
        select * from orders
        union all
        select * from friend_events
        union all
        select * from interactions
        union all
        select * from customers
    ) as seen
    group by customer_id
),

link_ids as (
    select
        id,
        min(linked_at) as first_seen_at,
        min(case when linked_at < {{ night_before_end }} then linked_at end)
            as first_seen_the_night_before
    from (
        select
            id_a as id,
            linked_at
        from links
        union all
        select
            id_b as id,
            linked_at
        from links
    ) as ends
    group by id
),

source_ids_the_night_before as (
    select * from source_ids
    where is_known_the_night_before
),

link_ids_the_night_before as (
    select * from link_ids
    where first_seen_the_night_before is not null
),

ids as (
    select
        false as is_night_before,
        coalesce(source_ids.id, link_ids.id) as id,
        source_ids.id is not null as is_customer_id,
        -- least skips nulls, on DuckDB and Spark alike
        least(source_ids.first_seen_at, link_ids.first_seen_at) as first_seen_at
    from source_ids
    full outer join link_ids
        on source_ids.id = link_ids.id

    union all

    select
        true as is_night_before,
        coalesce(source_ids.id, link_ids.id) as id,
        source_ids.id is not null as is_customer_id,
        least(source_ids.first_seen_the_night_before, link_ids.first_seen_the_night_before)
            as first_seen_at
    from source_ids_the_night_before as source_ids
    full outer join link_ids_the_night_before as link_ids
        on source_ids.id = link_ids.id
),

final as (
    select
        is_night_before,
        id,
        is_customer_id,
        first_seen_at,
        row_number() over (
            partition by is_night_before
            order by
                case when is_customer_id then 0 else 1 end,
                first_seen_at asc nulls last,
                id asc
        ) as id_rank
    from ids
)

select * from final
