-- The staging checks plus the group and customer reference checks: a row of an erased
-- customer is erased; one whose group is not a clean group (never delivered, quarantined or
-- withdrawn) is `unknown_group`; one whose customer is not known is `unknown_customer`.

with

staged as (
    select * from {{ ref('stg_raw__group_members') }}
),

known_customers as (
    select * from {{ ref('int_known_customers') }}
),

-- A group is known when its winning version is clean and no withdrawal.
known_groups as (
    select distinct group_id from {{ ref('stg_raw__groups') }}
    where {{ is_clean_row() }} and not is_withdrawal
),

final as (
    select
        {{ star(
            ref('stg_raw__group_members'),
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
            when known_groups.group_id is null then 'unknown_group'
            when not coalesce(known_customers.is_known, false) then 'unknown_customer'
        end as quarantine_reason
    from staged
    left join known_customers
        on staged.customer_id = known_customers.customer_id
    left join known_groups
        on staged.group_id = known_groups.group_id
)

select * from final
