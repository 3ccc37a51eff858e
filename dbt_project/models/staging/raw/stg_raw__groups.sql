-- A table, built whole each night: a brand has hundreds of groups, not millions.

with

source as (
    select * from {{ source('raw', 'groups') }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('groups', per_delivery=true) }} as is_exact_duplicate
    from source
),

typed as (
    select
        _raw_row_number,
        _source_file,
        _loaded_at,
        _delivered_on,
        is_exact_duplicate,

        -- ids
        {{ clean_text('group_id') }} as group_id,
        {{ clean_text('owner_staff_id') }} as owner_staff_id,

        -- the group
        {{ clean_text('name') }} as group_name,
        {{ parse_timestamp('created_at') }} as created_at,
        {{ parse_timestamp('dismissed_at') }} as dismissed_at,

        -- the version's own date, and a withdrawal (both optional)
        {{ parse_timestamp('updated_at') }} as updated_at,
        lower({{ clean_text('_deleted') }}) as deleted_flag,

        -- raw text of the typed columns, kept for the quarantine
        name as raw_name,
        created_at as raw_created_at,
        dismissed_at as raw_dismissed_at,
        updated_at as raw_updated_at,
        _deleted as raw_deleted
    from deduplicated
),

checked as (
    select
        *,
        coalesce(deleted_flag in ('true', '1'), false) as is_withdrawal,
        case
            when group_id is null then 'missing_group_id'
            when owner_staff_id is null then 'missing_owner_staff_id'
            when {{ clean_text('raw_created_at') }} is null then 'missing_created_at'
            when {{ is_unparsable('raw_created_at', 'created_at') }} then 'invalid_created_at'
            when {{ is_unparsable('raw_dismissed_at', 'dismissed_at') }}
                then 'invalid_dismissed_at'
            when {{ is_unparsable('raw_updated_at', 'updated_at') }} then 'invalid_updated_at'
            when deleted_flag not in ('true', 'false', '1', '0') then 'invalid_deleted'
            when created_at > {{ run_started_at_local() }} then 'future_timestamp'
            when dismissed_at > {{ run_started_at_local() }} then 'future_timestamp'
            when dismissed_at < created_at then 'dismissed_before_created'
        end as row_issue
    from typed
),

-- A row is a version of its group_id: the latest valid one wins, the ones before it are
-- superseded (macros/quarantine.sql).
versions as (
    select
        *,
        {{ conflicting_version_flag('group_id') }} as is_conflicting_version
    from checked
),

superseded as (
    select
        *,
        {{ superseded_version_flag('group_id') }} as is_superseded
    from versions
),

final as (
    select
        _raw_row_number,
        _source_file,
        _loaded_at,
        _delivered_on,
        is_exact_duplicate,
        is_conflicting_version,
        is_superseded,
        group_id,
        owner_staff_id,
        group_name,
        created_at,
        dismissed_at,
        updated_at,
        is_withdrawal,
        raw_name,
        raw_created_at,
        raw_dismissed_at,
        raw_updated_at,
        raw_deleted,
        row_issue,
        -- groups hold no customer: nothing of theirs is erased
        false as is_erased,
        {{ version_quarantine_reason() }} as quarantine_reason
    from superseded
)

select * from final
