-- The operators' 流失客户: had a confirmed order and no purchase in the last 30 days (the
-- same span as the lifecycle stage; a cancelled or refunded order is no purchase).
{%- set criteria = [
    {'column': 'days_since_last_purchase', 'expr': 'rfm.recency_days', 'op': '>=',
     'value': var('lifecycle_churn_days')},
    {'column': 'last_purchase_on', 'expr': 'rfm.last_purchase_on'},
] %}

with

rfm as (
    select * from {{ ref('customer_rfm') }}
),

confirmed_buyers as (
    select distinct customer_id
    from {{ ref('fct_orders') }}
    where is_confirmed and is_net_paid
),

final as (
    select
        rfm.customer_id,
        rfm.recency_days as days_since_last_purchase,
        rfm.monetary_cny as paid_amount_365d_cny,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from rfm
    inner join confirmed_buyers
        on rfm.customer_id = confirmed_buyers.customer_id
    where {{ segment_where(criteria) }}
)

select * from final
