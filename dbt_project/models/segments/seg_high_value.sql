-- More than 5 purchases and more than 5,000 CNY paid: the rule tag high_value.
with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        paid_order_count,
        paid_amount_cny
    from profile
    where high_value
)

select * from final
