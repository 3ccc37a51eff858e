-- The customer groups (客户群) on the night: created by then and not withdrawn, each as the
-- version in effect on it (a renamed group keeps the name it had), dismissed or not.

with

-- Every valid version, superseded ones included: a past night uses the one in effect then.
versions as (
    select
        *,
        {{ version_at() }} as version_at
    from {{ ref('stg_raw__groups') }}
    where
        row_issue is null
        and not is_exact_duplicate
        and not is_conflicting_version
        and not is_withdrawal
),

-- A group whose latest version withdraws it is in no night.
withdrawn as (
    select group_id from {{ ref('stg_raw__groups') }}
    where {{ is_clean_row() }} and is_withdrawal
),

-- The latest version dated by the night; a group's first version also stands for the time
-- before it (as in dim_customer_history).
ranked as (
    select
        *,
        row_number() over (
            partition by group_id
            order by
                case when version_at is null or version_at < {{ as_of_end() }} then 0 else 1 end,
                case
                    when version_at is null or version_at < {{ as_of_end() }} then version_at
                end desc nulls last,
                case
                    when version_at is null or version_at < {{ as_of_end() }}
                        then _raw_row_number
                end desc,
                version_at asc,
                _raw_row_number asc
        ) as version_rank
    from versions
    where group_id not in (select withdrawn.group_id from withdrawn)
),

final as (
    select
        group_id,
        group_name,
        owner_staff_id,
        created_at,
        cast(created_at as date) as created_on,
        case when dismissed_at < {{ as_of_end() }} then dismissed_at end as dismissed_at,
        case
            when dismissed_at < {{ as_of_end() }} then cast(dismissed_at as date)
        end as dismissed_on,
        coalesce(dismissed_at < {{ as_of_end() }}, false) as is_dismissed,
        {{ as_of_date() }} as as_of_date
    from ranked
    where
        version_rank = 1
        and created_at < {{ as_of_end() }}
)

select * from final
