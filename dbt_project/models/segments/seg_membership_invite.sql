-- Valuable customers who are not members yet (no level or the entry level): invite them.
{%- set criteria = [
    {'column': 'customer_value_tier', 'op': 'in', 'value': ['vip', 'high']},
    {'column': 'member_level', 'expr': "coalesce(member_level, '普通会员')", 'op': '=', 'value': '普通会员'},
] %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        customer_value_tier,
        member_level,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from profile
    where {{ segment_where(criteria) }}
)

select * from final
