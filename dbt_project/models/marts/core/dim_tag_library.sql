-- The corp's customer tag library (企业客户标签库) on the night: every tag created by then, and
-- whether it was deleted by then. A tag's latest version carries its deletion, dated, so a
-- past night sees the tag as it stood then.

with

tags as (
    select * from {{ ref('stg_raw__tag_library') }}
    where {{ is_clean_row() }}
),

final as (
    select
        tag_group,
        tag_name,
        created_at,
        cast(created_at as date) as created_on,
        case when deleted_at < {{ as_of_end() }} then deleted_at end as deleted_at,
        coalesce(deleted_at < {{ as_of_end() }}, false) as is_deleted,
        {{ as_of_date() }} as as_of_date
    from tags
    where created_at < {{ as_of_end() }}
)

select * from final
