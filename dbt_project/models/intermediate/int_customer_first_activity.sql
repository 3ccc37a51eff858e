-- Each customer id's first order, friend event or interaction up to the night (the facts are
-- as of the night): with the registration date, what makes a customer known on the night
-- (dim_customer_history, dim_customers). Per the id the sources know, not the person.

with

orders as (
    select * from {{ ref('fct_orders') }}
),

friend_events as (
    select * from {{ ref('fct_friend_events') }}
),

interactions as (
    select * from {{ ref('fct_interactions') }}
),

activity as (
    select
        source_customer_id as customer_id,
        ordered_at as activity_at
    from orders
    union all
    select
        source_customer_id as customer_id,
        event_at as activity_at
    from friend_events
    union all
    select
        source_customer_id as customer_id,
        interacted_at as activity_at
    from interactions
),

final as (
    select
        customer_id,
        min(activity_at) as first_activity_at
    from activity
    group by customer_id
)

select * from final
