-- Friends who interacted in the last 30 days but not in the last 15: wake-up content now.
{%- set criteria = [
    {'column': 'friend_status', 'op': '=', 'value': 'current_friend'},
    {'column': 'is_active_30d', 'op': '=', 'value': true},
    {'column': 'is_active_15d', 'op': '=', 'value': false},
] %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        interaction_level,
        content_preference,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from profile
    where {{ segment_where(criteria) }}
)

select * from final
