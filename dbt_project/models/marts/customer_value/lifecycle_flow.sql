with

history as (
    select * from {{ ref('customer_lifecycle_history') }}
),

-- A customer's first stage is a move from 'none': they entered the warehouse that day.
final as (
    select
        entered_on as moved_on,
        coalesce(previous_stage, 'none') as from_stage,
        lifecycle_stage as to_stage,
        count(*) as customers,
        {{ as_of_date() }} as as_of_date
    from history
    group by entered_on, coalesce(previous_stage, 'none'), lifecycle_stage
)

select * from final
