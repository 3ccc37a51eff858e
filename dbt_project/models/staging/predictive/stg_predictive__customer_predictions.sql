with

predictions as (
    select * from {{ source('predictive', 'customer_predictions') }}
),

final as (
    select
        customer_id,
        probability_alive,
        expected_purchases_30d,
        expected_purchases_90d,
        expected_avg_order_value_cny,
        clv_12m_cny
    from predictions
    where cast(as_of_date as date) = {{ as_of_date() }}
)

select * from final
