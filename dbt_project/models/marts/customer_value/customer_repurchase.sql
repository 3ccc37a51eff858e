with

purchase_days as (
    select * from {{ ref('fct_purchase_days') }}
),

summary as (
    select
        customer_id,
        count(*) as purchase_day_count,
        min(purchase_on) as first_purchase_on,
        max(case when purchase_day_number = 2 then purchase_on end) as second_purchase_on,
        max(purchase_on) as last_purchase_on
    from purchase_days
    group by customer_id
),

final as (
    select
        customer_id,
        purchase_day_count,
        first_purchase_on,
        second_purchase_on,
        last_purchase_on,
        -- Intervals are between purchase days; null until there are two. A double on every
        -- engine (Spark would make 1.0 * days a decimal, and its text 31.0000000000000000000000).
        case
            when purchase_day_count > 1
                then
                    cast({{ days_between('first_purchase_on', 'last_purchase_on') }} as double)
                    / (purchase_day_count - 1)
        end as avg_repurchase_interval_days,
        {{ days_between('first_purchase_on', 'second_purchase_on') }} as first_to_second_days,
        {{ as_of_date() }} as as_of_date
    from summary
)

select * from final
