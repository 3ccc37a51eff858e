-- More than 5 purchases and more than 5,000 CNY paid: the rule tag high_value.
{%- set criteria = [
    {'column': 'paid_order_count', 'op': '>', 'value': 5},
    {'column': 'paid_amount_cny', 'op': '>', 'value': 5000},
] %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        paid_order_count,
        paid_amount_cny,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from profile
    where {{ segment_where(criteria) }}
)

select * from final
