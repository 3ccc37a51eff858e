with

-- At most one exported push per customer a night (segment_membership decides which).
pushes as (
    select * from {{ ref('segment_membership') }}
    where
        as_of_date = {{ as_of_date() }}
        and is_exclusive
        and is_exported
),

actions as (
    select * from {{ ref('next_best_actions') }}
),

final as (
    select
        pushes.customer_id,
        actions.action,
        pushes.segment_priority as priority,
        pushes.segment_name,
        actions.reason,
        pushes.reason as membership_reason,
        {{ as_of_date() }} as as_of_date
    from pushes
    inner join actions
        on pushes.segment_name = actions.segment_name
)

select * from final
