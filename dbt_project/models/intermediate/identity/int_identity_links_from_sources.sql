-- The links the sources' own typed ids give (docs/identity.md): a buyer phone on an order
-- links the order's customer id to that phone, a unionid on a friend event links the event's
-- customer id (the WeCom external_userid) to the unionid. One row per pair, dated by its
-- first clean row: a source never withdraws a link, and a night takes the links dated before
-- its end (int_identity_links_as_of).

with

orders as (
    select * from {{ ref('int_orders_validated') }}
    where {{ is_clean_row() }} and buyer_phone is not null
),

friend_events as (
    select * from {{ ref('int_friend_events_validated') }}
    where {{ is_clean_row() }} and unionid is not null
),

links as (
    select
        customer_id as id_a,
        buyer_phone as id_b,
        'phone' as link_type,
        ordered_at as linked_at,
        'orders' as source_system
    from orders

    union all

    select
        customer_id as id_a,
        unionid as id_b,
        'unionid' as link_type,
        event_at as linked_at,
        'friend_events' as source_system
    from friend_events
),

final as (
    select
        id_a,
        id_b,
        link_type,
        source_system,
        min(linked_at) as linked_at
    from links
    where id_a <> id_b
    group by id_a, id_b, link_type, source_system
)

select * from final
