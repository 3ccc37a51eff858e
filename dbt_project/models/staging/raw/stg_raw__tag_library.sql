-- A table, built whole each night: WeCom allows a corp 10,000 customer tags at most.

with

source as (
    select * from {{ source('raw', 'tag_library') }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('tag_library', per_delivery=true) }} as is_exact_duplicate
    from source
),

typed as (
    select
        _raw_row_number,
        _source_file,
        _loaded_at,
        _delivered_on,
        is_exact_duplicate,

        -- the tag
        {{ clean_text('tag_group') }} as tag_group,
        {{ clean_text('tag_name') }} as tag_name,
        {{ parse_timestamp('created_at') }} as created_at,
        {{ parse_timestamp('deleted_at') }} as deleted_at,

        -- the version's own date (optional)
        {{ parse_timestamp('updated_at') }} as updated_at,

        -- raw text of the typed columns, kept for the quarantine
        created_at as raw_created_at,
        deleted_at as raw_deleted_at,
        updated_at as raw_updated_at
    from deduplicated
),

checked as (
    select
        *,
        -- the version key: a tag is its name within its group
        {{ dbt.concat(['tag_group', "'/'", 'tag_name']) }} as tag_key,
        case
            when tag_group is null then 'missing_tag_group'
            when tag_name is null then 'missing_tag_name'
            when {{ clean_text('raw_created_at') }} is null then 'missing_created_at'
            when {{ is_unparsable('raw_created_at', 'created_at') }} then 'invalid_created_at'
            when {{ is_unparsable('raw_deleted_at', 'deleted_at') }} then 'invalid_deleted_at'
            when {{ is_unparsable('raw_updated_at', 'updated_at') }} then 'invalid_updated_at'
            when created_at > {{ run_started_at_local() }} then 'future_timestamp'
            when deleted_at > {{ run_started_at_local() }} then 'future_timestamp'
            when deleted_at < created_at then 'deleted_before_created'
        end as row_issue
    from typed
),

-- A row is a version of its tag: the latest valid one wins, the ones before it are
-- superseded (macros/quarantine.sql).
versions as (
    select
        *,
        {{ conflicting_version_flag('tag_key') }} as is_conflicting_version
    from checked
),

superseded as (
    select
        *,
        {{ superseded_version_flag('tag_key') }} as is_superseded
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
        tag_group,
        tag_name,
        created_at,
        deleted_at,
        updated_at,
        raw_created_at,
        raw_deleted_at,
        raw_updated_at,
        row_issue,
        -- the library holds no customer: nothing of theirs is erased
        false as is_erased,
        {{ version_quarantine_reason() }} as quarantine_reason
    from superseded
)

select * from final
