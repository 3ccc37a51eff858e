with

-- Each product's attributes as they were on the night.
products as (
    select * from {{ ref('dim_product_history') }}
    where is_current
),

final as (
    select
        sku_id,
        sku_name,
        category,
        price_cny,
        launched_at,
        consumption_cycle_days,
        consumption_cycle_days is not null as is_periodic_consumable,
        invalid_fields,
        {{ as_of_date() }} as as_of_date
    from products
    -- Point in time: a product launched after the as-of day is not in the catalogue yet.
    where launched_at is null or launched_at < {{ as_of_end() }}
)

select * from final
