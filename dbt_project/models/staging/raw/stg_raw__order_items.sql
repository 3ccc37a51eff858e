-- Lines come with their order: a delivery that carries lines of an order replaces the lines
-- of that order delivered before. Incremental: only raw rows at new or changed file positions,
-- and every row of their orders, are staged again (macros/incremental.sql).
{{ incremental_by_raw_row("source('raw', 'order_items')") }}

with

source as (
    {{ raw_rows_to_stage(
        source('raw', 'order_items'), key_column='order_id', staged_key='order_id'
    ) }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('order_items', per_delivery=true) }} as is_exact_duplicate
    from source
),

typed as (
    select
        _raw_row_number,
        _source_file,
        _loaded_at,
        is_exact_duplicate,

        -- ids
        {{ clean_text('order_id') }} as order_id,
        {{ parse_integer('line_no') }} as line_number,
        {{ clean_text('sku_id') }} as sku_id,

        -- quantities and amounts
        {{ parse_integer('quantity') }} as quantity,
        {{ parse_amount('unit_price') }} as unit_price_cny,
        {{ parse_amount('line_amount') }} as line_amount_cny,

        -- raw text of the typed columns, kept for the quarantine
        line_no as raw_line_no,
        quantity as raw_quantity,
        unit_price as raw_unit_price,
        line_amount as raw_line_amount
    from deduplicated
),

checked as (
    select
        *,
        case
            when order_id is null then 'missing_order_id'
            when {{ clean_text('raw_line_no') }} is null then 'missing_line_no'
            when sku_id is null then 'missing_sku_id'
            when {{ clean_text('raw_quantity') }} is null then 'missing_quantity'
            when {{ clean_text('raw_line_amount') }} is null then 'missing_line_amount'
            when {{ is_unparsable('raw_line_no', 'line_number') }} then 'invalid_line_no'
            when {{ is_unparsable('raw_quantity', 'quantity') }} then 'invalid_quantity'
            when {{ is_unparsable('raw_unit_price', 'unit_price_cny') }}
                then 'invalid_unit_price'
            when {{ is_unparsable('raw_line_amount', 'line_amount_cny') }}
                then 'invalid_line_amount'
            when quantity <= 0 then 'non_positive_quantity'
            when unit_price_cny < 0 then 'negative_unit_price'
            when line_amount_cny < 0 then 'negative_line_amount'
        end as row_issue
    from typed
),

-- Delivery names sort in the order the deliveries are taken in (a full file is the only one).
superseded as (
    select
        *,
        (
            not is_exact_duplicate
            and order_id is not null
            and _source_file < max(_source_file) over (partition by order_id)
        ) as is_superseded
    from checked
),

final as (
    select
        *,
        -- set by validation, from the customers erased (marts.customer_erasures)
        false as is_erased,
        {{ staging_quarantine_reason(['order_id', 'line_number']) }} as quarantine_reason,
        {{ written_at() }} as _written_at
    from superseded
)

select * from final
