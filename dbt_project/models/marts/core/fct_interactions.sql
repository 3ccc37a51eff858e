with

interactions as (
    select * from {{ ref('int_interactions_validated') }}
    where
        {{ is_clean_row() }}
        and interacted_at < {{ as_of_end() }}
),

final as (
    select
        interaction_id,
        customer_id,
        staff_id,
        interaction_type,
        interacted_at,
        cast(interacted_at as date) as interacted_on,
        content_id,
        topic,
        duration_seconds,
        {{ as_of_date() }} as as_of_date
    from interactions
)

select * from final
