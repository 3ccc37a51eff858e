-- Incremental: only raw rows at new or changed file positions, and their keys, are staged
-- again (macros/incremental.sql).
{{ incremental_by_raw_row("source('raw', 'interactions')") }}

with

source as (
    {{ raw_rows_to_stage(
        source('raw', 'interactions'),
        key_column='interaction_id',
        staged_key='interaction_id',
        staged_timestamps=[
            'interacted_at',
        ],
    ) }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('interactions') }} as is_exact_duplicate
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
        {{ clean_text('interaction_id') }} as interaction_id,
        {{ clean_text('customer_id') }} as customer_id,
        {{ clean_text('staff_id') }} as staff_id,

        -- interaction
        lower({{ clean_text('interaction_type') }}) as interaction_type,
        {{ parse_timestamp('interaction_ts') }} as interacted_at,
        {{ clean_text('content_id') }} as content_id,
        {{ clean_text('topic') }} as topic,
        {{ parse_integer('duration_s') }} as duration_seconds,

        -- raw text of the typed columns, kept for the quarantine
        interaction_type as raw_interaction_type,
        interaction_ts as raw_interaction_ts,
        duration_s as raw_duration_s
    from deduplicated
),

checked as (
    select
        *,
        case
            when interaction_id is null then 'missing_interaction_id'
            when customer_id is null then 'missing_customer_id'
            when {{ clean_text('raw_interaction_ts') }} is null then 'missing_interaction_ts'
            when interaction_type is null then 'missing_interaction_type'
            when {{ is_unparsable('raw_interaction_ts', 'interacted_at') }}
                then 'invalid_interaction_ts'
            when {{ is_unparsable('raw_duration_s', 'duration_seconds') }}
                then 'invalid_duration_s'
            when interaction_type not in (
                'chat_in', 'chat_out', 'group_message', 'moment_like', 'moment_comment',
                'content_open', 'share', 'invite', 'review', 'survey_answer'
            ) then 'unknown_interaction_type'
            when duration_seconds < 0 then 'negative_duration_s'
            when interacted_at > {{ run_started_at_local() }} then 'future_timestamp'
        end as row_issue
    from typed
),

final as (
    select
        *,
        -- set by validation, from the customers erased (marts.customer_erasures)
        false as is_erased,
        {{ staging_quarantine_reason(['interaction_id']) }} as quarantine_reason,
        {{ written_at() }} as _written_at
    from checked
)

select * from final
