with

purchases as (
    select * from {{ ref('fct_orders') }}
    where is_net_paid
),

-- Buy-till-you-die models and repurchase intervals count purchase days: several orders paid on
-- one day are one purchase occasion.
days as (
    select
        customer_id,
        paid_on as purchase_on,
        count(*) as order_count,
        sum(net_paid_amount_cny) as amount_cny
    from purchases
    group by customer_id, paid_on
),

final as (
    select
        customer_id,
        purchase_on,
        row_number() over (partition by customer_id order by purchase_on) as purchase_day_number,
        lag(purchase_on) over (partition by customer_id order by purchase_on)
            as previous_purchase_on,
        lead(purchase_on) over (partition by customer_id order by purchase_on)
            as next_purchase_on,
        order_count,
        amount_cny,
        {{ as_of_date() }} as as_of_date
    from days
)

select * from final
