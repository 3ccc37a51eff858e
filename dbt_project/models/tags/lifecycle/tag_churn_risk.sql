with

customers as (
    select * from {{ ref('dim_customers') }}
),

predictions as (
    select * from {{ ref('stg_predictive__customer_predictions') }}
),

final as (
    select
        customers.customer_id,
        predictions.probability_alive,
        predictions.clv_12m_cny,
        -- BG/NBD gives P(alive) = 1 to a buyer who never came back, so only repeat buyers can
        -- be flagged; the threshold is var tag_churn_probability_alive_below.
        case
            when predictions.probability_alive is null then null
            else predictions.probability_alive < {{ var('tag_churn_probability_alive_below') }}
        end as is_likely_to_churn
    from customers
    left join predictions
        on customers.customer_id = predictions.customer_id
)

select * from final
