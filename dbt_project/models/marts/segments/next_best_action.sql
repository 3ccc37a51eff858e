with

members as (
    select * from {{ ref('segment_membership') }}
    where as_of_date = {{ as_of_date() }}
),

actions as (
    select * from {{ ref('next_best_actions') }}
),

-- Each customer gets the action of the highest-priority segment they are in tonight.
candidates as (
    select
        members.customer_id,
        actions.action,
        actions.priority,
        actions.segment_name,
        actions.reason,
        row_number() over (
            partition by members.customer_id
            order by actions.priority asc
        ) as action_rank
    from members
    inner join actions
        on members.segment_name = actions.segment_name
),

final as (
    select
        customer_id,
        action,
        priority,
        segment_name,
        reason,
        {{ as_of_date() }} as as_of_date
    from candidates
    where action_rank = 1
)

select * from final
