-- Friends who have never bought: the first-order push.
{%- set criteria = [
    {'column': 'friend_status', 'op': '=', 'value': 'current_friend'},
    {'column': 'paid_order_count', 'op': '=', 'value': 0},
    {'column': 'days_as_friend'},
] %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        days_as_friend,
        first_channel_code,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from profile
    where {{ segment_where(criteria) }}
)

select * from final
