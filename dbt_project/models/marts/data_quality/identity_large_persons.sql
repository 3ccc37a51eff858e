-- Persons of more ids than the identity var's max_person_ids on the night: a person that
-- large is more often a chain of wrong links than one customer. Listed to be looked at; the
-- night goes on.

with

persons as (
    select * from {{ ref('int_identity_persons') }}
),

final as (
    select
        person_id,
        max(person_id_count) as id_count,
        count(case when is_customer_id then 1 end) as customer_id_count,
        min(first_seen_at) as first_seen_at,
        {{ as_of_date() }} as as_of_date
    from persons
    where person_id_count > {{ var('identity')['max_person_ids'] }}
    group by person_id
)

select * from final
