-- Incremental: only raw rows at new or changed file positions, and their keys, are staged
-- again (macros/incremental.sql).
{{ incremental_by_raw_row("source('raw', 'friend_events')") }}

with

source as (
    {{ raw_rows_to_stage(
        source('raw', 'friend_events'),
        key_column='event_id',
        staged_key='event_id',
        staged_timestamps=[
            'event_at',
        ],
    ) }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('friend_events') }} as is_exact_duplicate
    from source
),

typed as (
    select
        _raw_row_number,
        _source_file,
        _loaded_at,
        is_exact_duplicate,
        -- events: a later delivery appends, and replaces nothing
        false as is_superseded,

        -- ids
        {{ clean_text('event_id') }} as event_id,
        {{ clean_text('customer_id') }} as customer_id,
        {{ clean_text('staff_id') }} as staff_id,

        -- event
        lower({{ clean_text('event_type') }}) as event_type,
        {{ parse_timestamp('event_ts') }} as event_at,
        {{ clean_text('channel_code') }} as channel_code,
        {{ clean_text('channel_name') }} as channel_name,
        {{ clean_text('unionid') }} as unionid,

        -- raw text of the typed columns, kept for the quarantine
        event_type as raw_event_type,
        event_ts as raw_event_ts
    from deduplicated
),

checked as (
    select
        *,
        case
            when event_id is null then 'missing_event_id'
            when customer_id is null then 'missing_customer_id'
            when staff_id is null then 'missing_staff_id'
            when event_type is null then 'missing_event_type'
            when {{ clean_text('raw_event_ts') }} is null then 'missing_event_ts'
            when {{ is_unparsable('raw_event_ts', 'event_at') }} then 'invalid_event_ts'
            when event_type not in ('add', 'delete_by_customer', 'delete_by_staff')
                then 'unknown_event_type'
            when event_at > {{ run_started_at_local() }} then 'future_timestamp'
        end as row_issue
    from typed
),

final as (
    select
        *,
        -- set by validation, from the customers erased (marts.customer_erasures)
        false as is_erased,
        {{ staging_quarantine_reason(['event_id']) }} as quarantine_reason,
        {{ written_at() }} as _written_at
    from checked
)

select * from final
