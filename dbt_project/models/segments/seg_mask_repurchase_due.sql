-- Face masks running out around today, nothing newer bought: send the repurchase coupon.
with

due as (
    select * from {{ ref('customer_product_repurchase') }}
    where is_repurchase_due and category = '面膜'
),

-- One row per customer: the mask that runs out first.
ranked as (
    select
        customer_id,
        sku_id,
        expected_run_out_on,
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
        expected_run_out_on
    from ranked
    where due_rank = 1
)

select * from final
