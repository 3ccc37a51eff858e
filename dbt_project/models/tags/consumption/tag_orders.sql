with

customers as (
    select * from {{ ref('dim_customers') }}
),

-- Inlined: read twice, and DuckDB would otherwise store every column of the orders first.
orders as {{ inlined_cte() }} (
    select * from {{ ref('fct_orders') }}
),

first_orders as (
    select
        customer_id,
        sales_channel,
        row_number() over (partition by customer_id order by ordered_at, order_id) as order_rank
    from orders
),

summary as (
    select
        customer_id,
        count(*) as order_count,
        sum(case when is_net_paid then 1 else 0 end) as paid_order_count,
        sum(case when is_paid then 1 else 0 end) as ever_paid_order_count,
        sum(case when is_paid and is_refunded then 1 else 0 end) as refunded_order_count,
        sum(case when is_net_paid and has_discount then 1 else 0 end) as discount_order_count,
        sum(total_amount_cny) as ordered_amount_cny,
        sum(net_paid_amount_cny) as paid_amount_cny,
        max(case when is_net_paid then net_paid_amount_cny end) as largest_order_cny,
        max(ordered_on) as last_ordered_on,
        max(paid_on) as last_paid_on
    from orders
    group by customer_id
),

final as (
    select
        customers.customer_id,
        cast(coalesce(summary.order_count, 0) as integer) as order_count,
        cast(coalesce(summary.paid_order_count, 0) as integer) as paid_order_count,
        coalesce(summary.ordered_amount_cny, 0) as ordered_amount_cny,
        coalesce(summary.paid_amount_cny, 0) as paid_amount_cny,
        {{ days_between('summary.last_ordered_on', as_of_date()) }} as days_since_last_order,
        {{ days_between('summary.last_paid_on', as_of_date()) }} as days_since_last_payment,
        -- Ratios are doubles on every engine (Spark would keep a decimal: docs/spark.md).
        cast(case
            when summary.paid_order_count > 0
                then summary.paid_amount_cny / summary.paid_order_count
        end as double) as avg_order_value_cny,
        summary.largest_order_cny,
        first_orders.sales_channel as first_order_channel,
        cast(case
            when summary.ever_paid_order_count > 0
                then 1.0 * summary.refunded_order_count / summary.ever_paid_order_count
        end as double) as refund_rate,
        cast(coalesce(summary.discount_order_count, 0) as integer) as discount_order_count,
        coalesce(summary.discount_order_count, 0) > 0 as has_used_discount
    from customers
    left join summary
        on customers.customer_id = summary.customer_id
    left join first_orders
        on
            customers.customer_id = first_orders.customer_id
            and first_orders.order_rank = 1
)

select * from final
