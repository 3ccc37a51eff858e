-- The staging checks plus the tag and customer reference checks: a row of an erased customer
-- is erased; one whose tag is not a clean tag of the library (never delivered, or only
-- quarantined) is `unknown_tag`; one whose customer is not known is `unknown_customer`.

with

staged as (
    select * from {{ ref('stg_raw__staff_tags') }}
),

known_customers as (
    select * from {{ ref('int_known_customers') }}
),

-- A tag is known when its winning version is clean; a deleted tag is known, and held by no
-- one from its deletion on (customer_staff_tags).
known_tags as (
    select distinct
        tag_group,
        tag_name
    from {{ ref('stg_raw__tag_library') }}
    where {{ is_clean_row() }}
),

final as (
    select
        {{ star(
            ref('stg_raw__staff_tags'),
            except=['quarantine_reason', 'is_erased'],
            relation_alias='staged',
        ) }},
        (
            not staged.is_exact_duplicate
            and coalesce(known_customers.is_erased, false)
        ) as is_erased,
        case
            when staged.is_exact_duplicate then null
            when known_customers.is_erased then null
            when staged.quarantine_reason is not null then staged.quarantine_reason
            when known_tags.tag_name is null then 'unknown_tag'
            when not coalesce(known_customers.is_known, false) then 'unknown_customer'
        end as quarantine_reason
    from staged
    left join known_customers
        on staged.customer_id = known_customers.customer_id
    left join known_tags
        on
            staged.tag_group = known_tags.tag_group
            and staged.tag_name = known_tags.tag_name
)

select * from final
