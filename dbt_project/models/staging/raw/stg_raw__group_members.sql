-- A table, built whole each night: a few hundred groups of at most 500 members each.

with

source as (
    select * from {{ source('raw', 'group_members') }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('group_members') }} as is_exact_duplicate
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
        {{ clean_text('group_id') }} as group_id,
        {{ clean_text('customer_id') }} as customer_id,

        -- event
        lower({{ clean_text('event_type') }}) as event_type,
        lower({{ clean_text('join_scene') }}) as join_scene,
        {{ parse_timestamp('event_ts') }} as event_at,

        -- raw text of the typed columns, kept for the quarantine
        event_type as raw_event_type,
        event_ts as raw_event_ts
    from deduplicated
),

checked as (
    select
        *,
        case
            when group_id is null then 'missing_group_id'
            when customer_id is null then 'missing_customer_id'
            when event_type is null then 'missing_event_type'
            when {{ clean_text('raw_event_ts') }} is null then 'missing_event_ts'
            when {{ is_unparsable('raw_event_ts', 'event_at') }} then 'invalid_event_ts'
            when event_type not in ('join', 'leave') then 'unknown_event_type'
            when event_at > {{ run_started_at_local() }} then 'future_timestamp'
        end as row_issue
    from typed
),

final as (
    select
        *,
        -- set by validation, from the customers erased (marts.customer_erasures)
        false as is_erased,
        {{ staging_quarantine_reason(['group_id', 'customer_id', 'event_at']) }}
            as quarantine_reason
    from checked
)

select * from final
