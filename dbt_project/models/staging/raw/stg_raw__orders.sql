-- A row is a version of its order: the latest valid one wins, the ones before it are
-- superseded (macros/quarantine.sql). Incremental: only raw rows at new or changed file
-- positions, and every row of their orders, are staged again (macros/incremental.sql).
{{ incremental_by_raw_row("source('raw', 'orders')") }}

with

source as (
    {{ raw_rows_to_stage(
        source('raw', 'orders'),
        key_column='order_id',
        staged_key='order_id',
        staged_timestamps=[
            'ordered_at',
            'paid_at',
            'confirmed_at',
            'cancelled_at',
            'refunded_at',
            'updated_at',
        ],
    ) }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('orders', per_delivery=true) }} as is_exact_duplicate
    from source
),

typed as (
    select
        _raw_row_number,
        _source_file,
        _loaded_at,
        is_exact_duplicate,
        -- the day of the delivery, when its name gives one
        _delivered_on,

        -- ids
        {{ clean_text('order_id') }} as order_id,
        {{ clean_text('customer_id') }} as customer_id,

        -- status as exported (the status now)
        lower({{ clean_text('status') }}) as current_status,

        -- timestamps, Asia/Shanghai local
        {{ parse_timestamp('order_ts') }} as ordered_at,
        {{ parse_timestamp('paid_ts') }} as paid_at,
        {{ parse_timestamp('confirmed_ts') }} as confirmed_at,
        {{ parse_timestamp('cancelled_ts') }} as cancelled_at,
        {{ parse_timestamp('refunded_ts') }} as refunded_at,
        {{ parse_timestamp('updated_at') }} as updated_at,

        -- amounts
        {{ parse_amount('total_amount') }} as total_amount_cny,
        {{ parse_amount('discount_amount') }} as discount_amount_cny,

        -- attributes
        {{ clean_text('channel') }} as sales_channel,
        {{ clean_text('ship_province') }} as ship_province,
        {{ normalized_phone('buyer_phone') }} as buyer_phone,

        -- raw text of the typed columns, kept for the quarantine
        order_ts as raw_order_ts,
        paid_ts as raw_paid_ts,
        confirmed_ts as raw_confirmed_ts,
        cancelled_ts as raw_cancelled_ts,
        refunded_ts as raw_refunded_ts,
        updated_at as raw_updated_at,
        status as raw_status,
        total_amount as raw_total_amount,
        discount_amount as raw_discount_amount
    from deduplicated
),

checked as (
    select
        *,
        case
            when order_id is null then 'missing_order_id'
            when customer_id is null then 'missing_customer_id'
            when {{ clean_text('raw_order_ts') }} is null then 'missing_order_ts'
            when current_status is null then 'missing_status'
            when {{ clean_text('raw_total_amount') }} is null then 'missing_total_amount'
            when {{ is_unparsable('raw_order_ts', 'ordered_at') }} then 'invalid_order_ts'
            when {{ is_unparsable('raw_paid_ts', 'paid_at') }} then 'invalid_paid_ts'
            when {{ is_unparsable('raw_confirmed_ts', 'confirmed_at') }}
                then 'invalid_confirmed_ts'
            when {{ is_unparsable('raw_cancelled_ts', 'cancelled_at') }}
                then 'invalid_cancelled_ts'
            when {{ is_unparsable('raw_refunded_ts', 'refunded_at') }}
                then 'invalid_refunded_ts'
            when {{ is_unparsable('raw_updated_at', 'updated_at') }} then 'invalid_updated_at'
            when {{ is_unparsable('raw_total_amount', 'total_amount_cny') }}
                then 'invalid_total_amount'
            when {{ is_unparsable('raw_discount_amount', 'discount_amount_cny') }}
                then 'invalid_discount_amount'
            when current_status not in ('created', 'paid', 'confirmed', 'cancelled', 'refunded')
                then 'unknown_status'
            when total_amount_cny < 0 then 'negative_total_amount'
            when discount_amount_cny < 0 then 'negative_discount_amount'
            when greatest(
                ordered_at,
                coalesce(paid_at, ordered_at),
                coalesce(confirmed_at, ordered_at),
                coalesce(cancelled_at, ordered_at),
                coalesce(refunded_at, ordered_at),
                coalesce(updated_at, ordered_at)
            ) > {{ run_started_at_local() }} then 'future_timestamp'
            when least(
                coalesce(paid_at, ordered_at),
                coalesce(confirmed_at, ordered_at),
                coalesce(cancelled_at, ordered_at),
                coalesce(refunded_at, ordered_at)
            ) < ordered_at then 'status_before_order_ts'
        end as row_issue
    from typed
),

versions as (
    select
        *,
        {{ conflicting_version_flag('order_id') }} as is_conflicting_version
    from checked
),

superseded as (
    select
        *,
        {{ superseded_version_flag('order_id') }} as is_superseded
    from versions
),

-- When a version first showed each status: its updated_at, or the day of its delivery. A
-- status without its own timestamp happened no earlier than that (fct_orders); an undated
-- version (a full file, an undated name) leaves it to the order's time, as the contract says.
status_shown as (
    select
        *,
        min(case
            when current_status = 'paid' and row_issue is null
                then {{ version_at() }}
        end) over (partition by order_id) as paid_shown_at,
        min(case
            when current_status = 'confirmed' and row_issue is null
                then {{ version_at() }}
        end) over (partition by order_id) as confirmed_shown_at,
        min(case
            when current_status = 'cancelled' and row_issue is null
                then {{ version_at() }}
        end) over (partition by order_id) as cancelled_shown_at,
        min(case
            when current_status = 'refunded' and row_issue is null
                then {{ version_at() }}
        end) over (partition by order_id) as refunded_shown_at
    from superseded
),

final as (
    select
        *,
        -- set by validation, from the customers erased (marts.customer_erasures)
        false as is_erased,
        {{ version_quarantine_reason() }} as quarantine_reason,
        {{ written_at() }} as _written_at
    from status_shown
)

select * from final
