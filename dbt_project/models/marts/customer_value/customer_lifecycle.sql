with

customers as (
    select customer_id from {{ ref('dim_customers') }}
),

history as (
    select * from {{ ref('customer_lifecycle_history') }}
),

current_stages as (
    select * from history
    where left_on is null
),

-- A customer known only from an undated registration has no history yet: a prospect.
final as (
    select
        customers.customer_id,
        coalesce(current_stages.lifecycle_stage, 'prospect') as lifecycle_stage,
        current_stages.entered_on as stage_entered_on,
        current_stages.previous_stage,
        {{ days_between('current_stages.entered_on', as_of_date()) }} as days_in_stage,
        {{ as_of_date() }} as as_of_date
    from customers
    left join current_stages
        on customers.customer_id = current_stages.customer_id
)

select * from final
