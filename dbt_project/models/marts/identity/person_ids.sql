-- The published map from every id to its person on the night: what BI joins on to count
-- people rather than ids (docs/identity.md).

with

persons as (
    select * from {{ ref('int_identity_persons') }}
),

final as (
    select
        id,
        person_id,
        is_customer_id,
        first_seen_at,
        person_id_count,
        {{ as_of_date() }} as as_of_date
    from persons
)

select * from final
