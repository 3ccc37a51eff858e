with

interactions as (
    select * from {{ ref('stg_raw__interactions') }}
),

known_customers as (
    select customer_id from {{ ref('stg_raw__customers') }}
    where {{ is_clean_row() }}
),

validated as (
    select
        {{ star(
            ref('stg_raw__interactions'),
            except=['quarantine_reason'],
            relation_alias='interactions',
        ) }},
        case
            when interactions.is_exact_duplicate then null
            when interactions.quarantine_reason is not null then interactions.quarantine_reason
            when known_customers.customer_id is null then 'unknown_customer'
        end as quarantine_reason
    from interactions
    left join known_customers
        on interactions.customer_id = known_customers.customer_id
)

select * from validated
