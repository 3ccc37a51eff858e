with

friend_events as (
    select * from {{ ref('stg_raw__friend_events') }}
),

known_customers as (
    select customer_id from {{ ref('stg_raw__customers') }}
    where {{ is_clean_row() }}
),

validated as (
    select
        {{ star(
            ref('stg_raw__friend_events'),
            except=['quarantine_reason'],
            relation_alias='friend_events',
        ) }},
        case
            when friend_events.is_exact_duplicate then null
            when friend_events.quarantine_reason is not null then friend_events.quarantine_reason
            when known_customers.customer_id is null then 'unknown_customer'
        end as quarantine_reason
    from friend_events
    left join known_customers
        on friend_events.customer_id = known_customers.customer_id
)

select * from validated
