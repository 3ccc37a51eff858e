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

validated as (
    select
        staged.*,
        (
            not staged.is_exact_duplicate
            and (erased_a.customer_id is not null or erased_b.customer_id is not null)
        ) as is_erased
    from staged
    left join erased_customers as erased_a
        on staged.id_a = erased_a.customer_id
    left join erased_customers as erased_b
        on staged.id_b = erased_b.customer_id
),

final as (
    select
        _raw_row_number,
        _source_file,
        _loaded_at,
        is_exact_duplicate,
        is_superseded,
        is_erased,
        id_a,
        id_b,
        link_type,
        linked_at,
        source_system,
        is_withdrawal,
        raw_link_type,
        raw_linked_at,
        raw_deleted,
        case when not is_erased then quarantine_reason end as quarantine_reason
    from validated
)

select * from final
