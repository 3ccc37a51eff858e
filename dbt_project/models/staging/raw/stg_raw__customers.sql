with

source as (
    select * from {{ source('raw', 'customers') }}
),

deduplicated as (
    select
        *,
        {{ exact_duplicate_flag('customers', per_delivery=true) }} as is_exact_duplicate
    from source
),

typed as (
    select
        _raw_row_number,
        _source_file,
        _delivered_on,
        is_exact_duplicate,

        -- ids
        {{ clean_text('customer_id') }} as customer_id,

        -- attributes
        upper({{ clean_text('gender') }}) as parsed_gender,
        {{ parse_date('birthday') }} as parsed_birth_date,
        {{ clean_text('province') }} as province,
        {{ clean_text('city') }} as city,
        {{ clean_text('member_level') }} as member_level,
        {{ parse_timestamp('registered_at') }} as parsed_registered_at,
        {{ clean_text('identity') }} as identity,
        {{ clean_text('skin_type') }} as skin_type,

        -- the version's own date (optional)
        {{ parse_timestamp('updated_at') }} as updated_at,

        -- an erasure request: this version is a tombstone (optional)
        lower({{ clean_text('_deleted') }}) as deleted_flag,

        -- raw text of the typed columns, kept for the quarantine
        updated_at as raw_updated_at,
        _deleted as raw_deleted,
        gender as raw_gender,
        birthday as raw_birthday,
        registered_at as raw_registered_at
    from deduplicated
),

-- A bad optional attribute does not cost the customer (and with it all their orders): the
-- value is set to null and named in invalid_fields.
attributes_checked as (
    select
        *,
        coalesce(parsed_gender not in ('M', 'F', 'U'), false) as is_invalid_gender,
        coalesce(
            {{ is_unparsable('raw_birthday', 'parsed_birth_date') }}
            or parsed_birth_date > cast({{ run_started_at_local() }} as date),
            false
        ) as is_invalid_birthday,
        coalesce(
            {{ is_unparsable('raw_registered_at', 'parsed_registered_at') }}
            or parsed_registered_at > {{ run_started_at_local() }},
            false
        ) as is_invalid_registered_at
    from typed
),

checked as (
    select
        _raw_row_number,
        _source_file,
        _delivered_on,
        is_exact_duplicate,
        customer_id,
        updated_at,
        raw_updated_at,
        raw_deleted,
        coalesce(deleted_flag in ('true', '1'), false) as is_tombstone,
        case when not is_invalid_gender then parsed_gender end as gender,
        case when not is_invalid_birthday then parsed_birth_date end as birth_date,
        province,
        city,
        member_level,
        case when not is_invalid_registered_at then parsed_registered_at end as registered_at,
        identity,
        skin_type,
        nullif(concat_ws(
            ',',
            case when is_invalid_gender then 'gender' end,
            case when is_invalid_birthday then 'birthday' end,
            case when is_invalid_registered_at then 'registered_at' end
        ), '') as invalid_fields,
        raw_gender,
        raw_birthday,
        raw_registered_at,
        case
            when customer_id is null then 'missing_customer_id'
            when {{ is_unparsable('raw_updated_at', 'updated_at') }} then 'invalid_updated_at'
            when deleted_flag not in ('true', 'false', '1', '0') then 'invalid_deleted'
        end as row_issue
    from attributes_checked
),

-- A row is a version of its customer_id: the latest valid one wins, the ones before it are
-- superseded (macros/quarantine.sql).
versions as (
    select
        *,
        {{ conflicting_version_flag('customer_id') }} as is_conflicting_version
    from checked
),

superseded as (
    select
        *,
        {{ superseded_version_flag('customer_id') }} as is_superseded
    from versions
),

-- A customer whose winning version is a tombstone is erased: every row of theirs loses its
-- personal attributes, and none of them is clean (marts.customer_erasures).
erasures as (
    select
        *,
        coalesce(max(case
            when
                is_tombstone
                and row_issue is null
                and not is_exact_duplicate
                and not is_conflicting_version
                and not is_superseded
                then 1
            else 0
        end) over (partition by customer_id) = 1, false) as is_erased_customer
    from superseded
),

final as (
    select
        _raw_row_number,
        _source_file,
        _delivered_on,
        is_exact_duplicate,
        customer_id,
        updated_at,
        is_tombstone,
        is_conflicting_version,
        is_superseded,
        row_issue,
        is_erased_customer,
        not is_exact_duplicate and not is_superseded and is_erased_customer as is_erased,
        {%- for column in [
            'raw_updated_at', 'raw_deleted', 'gender', 'birth_date', 'province', 'city',
            'member_level', 'registered_at', 'identity', 'skin_type', 'invalid_fields',
            'raw_gender', 'raw_birthday', 'raw_registered_at',
        ] %}
            case when not is_erased_customer then {{ column }} end as {{ column }},
        {%- endfor %}
        case
            when is_exact_duplicate or is_superseded or is_erased_customer then null
            when row_issue is not null then row_issue
            when is_conflicting_version then 'conflicting_duplicate_key'
        end as quarantine_reason
    from erasures
)

select * from final
