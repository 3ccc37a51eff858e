with

orders as (
    select * from {{ ref('stg_raw__orders') }}
),

known_customers as (
    select customer_id from {{ ref('stg_raw__customers') }}
    where {{ is_clean_row() }}
),

validated as (
    select
        {{ star(ref('stg_raw__orders'), except=['quarantine_reason'], relation_alias='orders') }},
        case
            when orders.is_exact_duplicate then null
            when orders.quarantine_reason is not null then orders.quarantine_reason
            when known_customers.customer_id is null then 'unknown_customer'
        end as quarantine_reason
    from orders
    left join known_customers
        on orders.customer_id = known_customers.customer_id
)

select * from validated
