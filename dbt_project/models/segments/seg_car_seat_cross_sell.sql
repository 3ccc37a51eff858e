-- Child car seat buyers and the category to offer them next (seed category_affinity).
with

candidates as (
    select * from {{ ref('cross_sell_candidates') }}
    where source_category = '儿童安全座椅'
),

ranked as (
    select
        customer_id,
        target_category,
        source_purchased_on,
        row_number() over (
            partition by customer_id
            order by priority asc, target_category asc
        ) as offer_rank
    from candidates
),

final as (
    select
        customer_id,
        target_category,
        source_purchased_on as car_seat_bought_on
    from ranked
    where offer_rank = 1
)

select * from final
