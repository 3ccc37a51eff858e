-- The staging checks plus erasure: a link that names an erased customer is erased with them
-- (PIPL: the ids of a person who asked to be forgotten are not linked again).

with

staged as (
    select * from {{ ref('stg_raw__identity_links') }}
),

erased_customers as (
    select customer_id from {{ ref('int_known_customers') }}
    where is_erased
),

final as (
    select
        {{ star(
            ref('stg_raw__identity_links'),
            except=['row_issue', 'quarantine_reason'],
            relation_alias='staged',
        ) }},
        (
            not staged.is_exact_duplicate
            and (erased_a.customer_id is not null or erased_b.customer_id is not null)
        ) as is_erased,
        -- an exact duplicate has no reason already
        case
            when erased_a.customer_id is null and erased_b.customer_id is null
                then staged.quarantine_reason
        end as quarantine_reason
    from staged
    left join erased_customers as erased_a
        on staged.id_a = erased_a.customer_id
    left join erased_customers as erased_b
        on staged.id_b = erased_b.customer_id
)

select * from final
