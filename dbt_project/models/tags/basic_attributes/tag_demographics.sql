with

customers as (
    select * from {{ ref('dim_customers') }}
),

city_tiers as (
    select * from {{ ref('city_tiers') }}
),

-- Age in full years on the as-of date: a birthday later in the year has not come yet.
aged as (
    select
        *,
        extract(year from {{ as_of_date() }}) - extract(year from birth_date)
        - case
            when
                extract(month from {{ as_of_date() }}) * 100 + extract(day from {{ as_of_date() }})
                < extract(month from birth_date) * 100 + extract(day from birth_date)
                then 1
            else 0
        end as age_years
    from customers
),

final as (
    select
        aged.customer_id,
        aged.gender,
        case
            when aged.age_years is null then null
            when aged.age_years < 18 then '<18'
            when aged.age_years < 25 then '18-24'
            when aged.age_years < 30 then '25-29'
            when aged.age_years < 35 then '30-34'
            when aged.age_years < 40 then '35-39'
            when aged.age_years < 50 then '40-49'
            else '50+'
        end as age_band,
        cast(extract(month from aged.birth_date) as integer) as birthday_month,
        aged.province,
        city_tiers.city_tier,
        aged.member_level,
        aged.identity,
        aged.skin_type
    from aged
    left join city_tiers
        on aged.city = city_tiers.city
)

select * from final
