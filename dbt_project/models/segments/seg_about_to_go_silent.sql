-- Friends who interacted in the last 30 days but not in the last 15: wake-up content now.
with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        interaction_level,
        content_preference
    from profile
    where
        friend_status = 'current_friend'
        and is_active_30d
        and not is_active_15d
)

select * from final
