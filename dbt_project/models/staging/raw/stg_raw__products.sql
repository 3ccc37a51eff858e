with

source as (
    select * from {{ source('raw', 'products') }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('products', per_delivery=true) }} as is_exact_duplicate
    from source
),

typed as (
    select
        _raw_row_number,
        _source_file,
        _delivered_on,
        is_exact_duplicate,

        -- ids
        {{ clean_text('sku_id') }} as sku_id,

        -- attributes
        {{ clean_text('sku_name') }} as sku_name,
        {{ clean_text('category') }} as category,
        {{ parse_amount('price') }} as parsed_price_cny,
        {{ parse_timestamp('launched_at') }} as parsed_launched_at,
        {{ parse_integer('consumption_cycle_days') }} as parsed_consumption_cycle_days,

        -- the version's own date (optional)
        {{ parse_timestamp('updated_at') }} as updated_at,

        -- raw text of the typed columns, kept for the quarantine
        updated_at as raw_updated_at,
        price as raw_price,
        launched_at as raw_launched_at,
        consumption_cycle_days as raw_consumption_cycle_days
    from deduplicated
),

-- As for customers, a bad optional attribute is nulled and named, so that the product's
-- order lines are not lost with it. Launch dates may lie in the future (planned launches).
attributes_checked as (
    select
        *,
        coalesce(
            {{ is_unparsable('raw_price', 'parsed_price_cny') }} or parsed_price_cny < 0,
            false
        ) as is_invalid_price,
        {{ is_unparsable('raw_launched_at', 'parsed_launched_at') }} as is_invalid_launched_at,
        coalesce(
            {{ is_unparsable('raw_consumption_cycle_days', 'parsed_consumption_cycle_days') }}
            or parsed_consumption_cycle_days <= 0,
            false
        ) as is_invalid_consumption_cycle_days
    from typed
),

checked as (
    select
        _raw_row_number,
        _source_file,
        _delivered_on,
        is_exact_duplicate,
        sku_id,
        updated_at,
        raw_updated_at,
        sku_name,
        category,
        case when not is_invalid_price then parsed_price_cny end as price_cny,
        case when not is_invalid_launched_at then parsed_launched_at end as launched_at,
        case
            when not is_invalid_consumption_cycle_days then parsed_consumption_cycle_days
        end as consumption_cycle_days,
        nullif(concat_ws(
            ',',
            case when is_invalid_price then 'price' end,
            case when is_invalid_launched_at then 'launched_at' end,
            case when is_invalid_consumption_cycle_days then 'consumption_cycle_days' end
        ), '') as invalid_fields,
        raw_price,
        raw_launched_at,
        raw_consumption_cycle_days,
        case
            when sku_id is null then 'missing_sku_id'
            when category is null then 'missing_category'
            when {{ is_unparsable('raw_updated_at', 'updated_at') }} then 'invalid_updated_at'
        end as row_issue
    from attributes_checked
),

-- A row is a version of its sku_id: the latest valid one wins, the ones before it are
-- superseded (macros/quarantine.sql).
versions as (
    select
        *,
        {{ conflicting_version_flag('sku_id') }} as is_conflicting_version
    from checked
),

superseded as (
    select
        *,
        {{ superseded_version_flag('sku_id') }} as is_superseded
    from versions
),

final as (
    select
        *,
        -- set by validation, from the customers erased (marts.customer_erasures)
        false as is_erased,
        {{ version_quarantine_reason() }} as quarantine_reason
    from superseded
)

select * from final
