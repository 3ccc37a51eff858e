{{ incremental_by_key('customer_id', marker_column='interaction_id') }}

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
        duration_seconds
    from interactions
)

{{ rows_of_changed_keys('final', 'customer_id') }}
