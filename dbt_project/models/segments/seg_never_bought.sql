-- Friends who have never bought: the first-order push.
with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        days_as_friend,
        first_channel_code
    from profile
    where friend_status = 'current_friend' and paid_order_count = 0
)

select * from final
