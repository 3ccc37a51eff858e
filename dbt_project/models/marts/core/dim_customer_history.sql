-- The customers' attributes as validity intervals (type-2 history), as known on the night:
-- one row per valid version dated by the night's end or undated, of the customers known on
-- the night. dim_customers takes the version in effect (is_current), so a past night rebuilt
-- later uses the attributes it had.

with

versions as (
    select
        *,
        {{ version_at() }} as version_at
    from {{ ref('stg_raw__customers') }}
    where
        row_issue is null
        and not is_exact_duplicate
        and not is_conflicting_version
        and not is_erased_customer
),

numbered as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by version_at asc nulls first, _raw_row_number asc
        ) as version_number
    from versions
),

-- A customer's first version also stands for the time before it: it is the best account of
-- them we have, even when it is dated after the night.
known_on_the_night as (
    select * from numbered
    where
        version_number = 1
        or version_at is null
        or version_at < {{ as_of_end() }}
),

first_activity as (
    select * from {{ ref('int_customer_first_activity') }}
),

intervals as (
    select
        *,
        case when version_number > 1 then version_at end as valid_from,
        lead(case when version_number > 1 then version_at end) over (
            partition by customer_id order by version_number
        ) as valid_to,
        row_number() over (
            partition by customer_id order by version_number desc
        ) = 1 as is_current
    from known_on_the_night
),

-- Known on the night: registered by then, active by then, or without a registration date (a
-- customer who cannot be placed later must not depend on future rows).
known_customers as (
    select customer_id from intervals
    where
        is_current
        and (registered_at is null or registered_at < {{ as_of_end() }})
    union
    select customer_id from first_activity
),

versions_of_known_customers as (
    select intervals.*
    from intervals
    inner join known_customers
        on intervals.customer_id = known_customers.customer_id
),

final as (
    select
        customer_id,
        version_number,
        valid_from,
        valid_to,
        is_current,

        -- attributes of this version
        gender,
        birth_date,
        province,
        city,
        member_level,
        registered_at,
        identity,
        skin_type,
        invalid_fields,

        -- lineage
        _source_file,
        _raw_row_number,
        {{ as_of_date() }} as as_of_date
    from versions_of_known_customers
)

select * from final
