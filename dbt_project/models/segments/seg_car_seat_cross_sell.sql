-- Child car seat buyers and the category to offer them next (seed category_affinity).
{%- set criteria = [
    {'column': 'source_category', 'op': '=', 'value': '儿童安全座椅'},
    {'column': 'target_category'},
] %}

with

candidates as (
    select
        customer_id,
        target_category,
        source_purchased_on,
        priority,
        {{ segment_reason(criteria) }} as reason,
        {{ segment_reason_fields(criteria) }} as reason_fields
    from {{ ref('cross_sell_candidates') }}
    where {{ segment_where(criteria) }}
),

ranked as (
    select
        customer_id,
        target_category,
        source_purchased_on,
        reason,
        reason_fields,
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
        source_purchased_on as car_seat_bought_on,
        reason,
        reason_fields
    from ranked
    where offer_rank = 1
)

select * from final
