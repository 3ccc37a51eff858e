with

purchase_days as (
    select * from {{ ref('fct_purchase_days') }}
),

purchases as (
    select * from {{ ref('fct_orders') }}
    where is_net_paid
),

window_purchases as (
    select
        customer_id,
        count(*) as frequency_orders,
        sum(net_paid_amount_cny) as monetary_cny
    from purchases
    where {{ days_between('paid_on', as_of_date()) }} < {{ var('rfm_window_days') }}
    group by customer_id
),

-- The buy-till-you-die summary counts purchase days; the first day is not a repeat.
purchase_day_summary as (
    select
        customer_id,
        min(purchase_on) as first_purchase_on,
        max(purchase_on) as last_purchase_on,
        count(*) - 1 as btyd_frequency,
        sum(case when purchase_day_number > 1 then amount_cny else 0 end) as repeat_amount_cny
    from purchase_days
    group by customer_id
),

measured as (
    select
        purchase_day_summary.customer_id,
        purchase_day_summary.first_purchase_on,
        purchase_day_summary.last_purchase_on,
        {{ days_between('purchase_day_summary.last_purchase_on', as_of_date()) }}
            as recency_days,
        coalesce(window_purchases.frequency_orders, 0) as frequency_orders,
        coalesce(window_purchases.monetary_cny, 0) as monetary_cny,
        purchase_day_summary.btyd_frequency,
        {{ days_between(
            'purchase_day_summary.first_purchase_on', 'purchase_day_summary.last_purchase_on'
        ) }} as btyd_recency,
        {{ days_between('purchase_day_summary.first_purchase_on', as_of_date()) }} as btyd_t,
        case
            when purchase_day_summary.btyd_frequency > 0
                then
                    purchase_day_summary.repeat_amount_cny
                    / purchase_day_summary.btyd_frequency
            else 0
        end as btyd_monetary
    from purchase_day_summary
    left join window_purchases
        on purchase_day_summary.customer_id = window_purchases.customer_id
),

scored as (
    select
        *,
        {{ rfm_score('recency_days', 'recency_days', higher_is_better=false) }} as r_score,
        {{ rfm_score('frequency_orders', 'frequency_orders', higher_is_better=true) }}
            as f_score,
        {{ rfm_score('monetary_cny', 'monetary_cny', higher_is_better=true) }} as m_score
    from measured
),

-- The eight-class model compares each score with its mean over the scored customers.
compared as (
    select
        *,
        r_score > avg(r_score) over () as is_r_high,
        f_score > avg(f_score) over () as is_f_high,
        m_score > avg(m_score) over () as is_m_high
    from scored
),

final as (
    select
        customer_id,
        first_purchase_on,
        last_purchase_on,

        -- window RFM
        recency_days,
        frequency_orders,
        monetary_cny,
        r_score,
        f_score,
        m_score,
        {{ dbt.concat([
            dbt.cast('r_score', dbt.type_string()),
            dbt.cast('f_score', dbt.type_string()),
            dbt.cast('m_score', dbt.type_string()),
        ]) }} as rfm_cell,
        case
            when is_r_high and is_f_high and is_m_high then '重要价值客户'
            when is_r_high and not is_f_high and is_m_high then '重要发展客户'
            when not is_r_high and is_f_high and is_m_high then '重要保持客户'
            when not is_r_high and not is_f_high and is_m_high then '重要挽留客户'
            when is_r_high and is_f_high and not is_m_high then '一般价值客户'
            when is_r_high and not is_f_high and not is_m_high then '一般发展客户'
            when not is_r_high and is_f_high and not is_m_high then '一般保持客户'
            else '一般挽留客户'
        end as rfm_class,
        -- New and Promising go by the history, not F: lapsed buyers are scored too, so one
        -- order in the window can score any F from 2 up, and F 1 goes with a low R.
        case
            when first_purchase_on = last_purchase_on and r_score = 5 then 'New'
            when first_purchase_on = last_purchase_on and r_score = 4 then 'Promising'
            when r_score = 5 and f_score >= 4 then 'Champions'
            when r_score between 3 and 4 and f_score >= 4 then 'Loyal'
            when r_score >= 4 then 'Potential Loyalist'
            when r_score = 3 and f_score = 3 then 'Need Attention'
            when r_score = 3 and f_score <= 2 then 'About to Sleep'
            when r_score <= 2 and f_score = 5 then 'Cannot Lose Them'
            when r_score <= 2 and f_score between 3 and 4 then 'At Risk'
            when r_score = 1 and f_score = 1 then 'Lost'
            else 'Hibernating'
        end as rfm_segment,

        -- the buy-till-you-die summary, in days
        btyd_frequency,
        btyd_recency,
        btyd_t,
        btyd_monetary,

        {{ as_of_date() }} as as_of_date
    from compared
)

select * from final
