-- What changed in who is whom since the night before (docs/identity.md): one row per id that
-- belonged to another person then. Both nights' persons are worked out from the data up to
-- each night, so a rebuilt night lists the same changes whichever nights were built.

with

tonight as (
    select * from {{ ref('int_identity_persons') }}
),

night_before as (
    select * from {{ ref('int_identity_persons_night_before') }}
),

moved as (
    select
        tonight.id,
        night_before.person_id as person_before,
        tonight.person_id as person_after
    from tonight
    inner join night_before
        on tonight.id = night_before.id
    where tonight.person_id <> night_before.person_id
),

persons_tonight as (
    select distinct person_id from tonight
),

persons_the_night_before as (
    select distinct person_id from night_before
),

final as (
    select
        moved.id,
        moved.person_before,
        moved.person_after,
        -- merged: into a person of the night before, whose older id names them both;
        -- split: the person it left is still there; renamed: its person is named by another id
        -- of theirs (one that became a customer id tonight), or joined one that is
        case
            when persons_tonight.person_id is not null then 'split'
            when persons_the_night_before.person_id is not null then 'merged'
            else 'renamed'
        end as person_change,
        {{ as_of_date() }} as as_of_date
    from moved
    left join persons_tonight
        on moved.person_before = persons_tonight.person_id
    left join persons_the_night_before
        on moved.person_after = persons_the_night_before.person_id
)

select * from final
