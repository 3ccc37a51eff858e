-- Face masks running out around today, nothing newer bought: send the repurchase coupon.
{%- set criteria = [
    {'column': 'category', 'op': '=', 'value': '面膜'},
    {'column': 'is_repurchase_due', 'op': '=', 'value': true},
    {'column': 'expected_run_out_on'},
] %}

with

due as (
    select
        *,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from {{ ref('customer_product_repurchase') }}
    where {{ segment_where(criteria) }}
),

-- One row per customer: the mask that runs out first.
ranked as (
    select
        customer_id,
        sku_id,
        expected_run_out_on,
        reason,
        reason_fields,
        row_number() over (
            partition by customer_id
            order by expected_run_out_on asc, sku_id asc
        ) as due_rank
    from due
),

final as (
    select
        customer_id,
        sku_id,
        expected_run_out_on,
        reason,
        reason_fields
    from ranked
    where due_rank = 1
)

select * from final
