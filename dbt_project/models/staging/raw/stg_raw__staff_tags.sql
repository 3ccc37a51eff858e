-- A table, built whole each night: a fifth of the friends carry a few hand-set tags each.

with

source as (
    select * from {{ source('raw', 'staff_tags') }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('staff_tags') }} as is_exact_duplicate
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
        {{ clean_text('staff_id') }} as staff_id,
        {{ clean_text('customer_id') }} as customer_id,

        -- the tag, as the library names it
        {{ clean_text('tag_group') }} as tag_group,
        {{ clean_text('tag_name') }} as tag_name,

        -- event
        lower({{ clean_text('action') }}) as tag_action,
        {{ parse_timestamp('event_ts') }} as event_at,

        -- raw text of the typed columns, kept for the quarantine
        action as raw_action,
        event_ts as raw_event_ts
    from deduplicated
),

checked as (
    select
        *,
        case
            when staff_id is null then 'missing_staff_id'
            when customer_id is null then 'missing_customer_id'
            when tag_group is null then 'missing_tag_group'
            when tag_name is null then 'missing_tag_name'
            when tag_action is null then 'missing_action'
            when {{ clean_text('raw_event_ts') }} is null then 'missing_event_ts'
            when {{ is_unparsable('raw_event_ts', 'event_at') }} then 'invalid_event_ts'
            when tag_action not in ('add', 'remove') then 'unknown_action'
            when event_at > {{ run_started_at_local() }} then 'future_timestamp'
        end as row_issue
    from typed
),

final as (
    select
        *,
        -- set by validation, from the customers erased (marts.customer_erasures)
        false as is_erased,
        {{ staging_quarantine_reason(
            ['staff_id', 'customer_id', 'tag_group', 'tag_name', 'event_at']
        ) }} as quarantine_reason
    from checked
)

select * from final
