-- A table, built whole each night: links are a few per person, a small source beside the
-- orders and interactions that the incremental staging models exist for.

with

source as (
    select * from {{ source('raw', 'identity_links') }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('identity_links') }} as is_exact_duplicate
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

        -- the link
        {{ clean_text('id_a') }} as id_a,
        {{ clean_text('id_b') }} as id_b,
        lower({{ clean_text('link_type') }}) as link_type,
        {{ parse_timestamp('linked_at') }} as linked_at,
        {{ clean_text('source_system') }} as source_system,
        lower({{ clean_text('_deleted') }}) as deleted_flag,

        -- raw text of the typed columns, kept for the quarantine
        link_type as raw_link_type,
        linked_at as raw_linked_at,
        _deleted as raw_deleted
    from deduplicated
),

checked as (
    select
        *,
        coalesce(deleted_flag in ('true', '1'), false) as is_withdrawal,
        case
            when id_a is null then 'missing_id_a'
            when id_b is null then 'missing_id_b'
            when link_type is null then 'missing_link_type'
            when {{ clean_text('raw_linked_at') }} is null then 'missing_linked_at'
            when {{ is_unparsable('raw_linked_at', 'linked_at') }} then 'invalid_linked_at'
            when id_a = id_b then 'self_link'
            when link_type not in (
                {%- for link_type in var('identity')['link_types'] %}
                    '{{ link_type.name }}'{{ ',' if not loop.last }}
                {%- endfor %}
            ) then 'unknown_link_type'
            when deleted_flag not in ('true', 'false', '1', '0') then 'invalid_deleted'
            when linked_at > {{ run_started_at_local() }} then 'future_timestamp'
        end as row_issue
    from typed
),

final as (
    select
        _raw_row_number,
        _source_file,
        _loaded_at,
        is_exact_duplicate,
        is_superseded,
        id_a,
        id_b,
        link_type,
        linked_at,
        source_system,
        is_withdrawal,
        raw_link_type,
        raw_linked_at,
        raw_deleted,
        row_issue,
        case when not is_exact_duplicate then row_issue end as quarantine_reason
    from checked
)

select * from final
