-- Friends who said they are 宝妈: for building 宝妈 groups.
{%- set criteria = [
    {'column': 'friend_status', 'op': '=', 'value': 'current_friend'},
    {'column': 'identity', 'op': '=', 'value': '宝妈'},
] %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        first_staff_id,
        lifecycle_stage,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from profile
    where {{ segment_where(criteria) }}
)

select * from final
