-- What became of each link that holds on the night: it joined two ids into one person, or a
-- guard kept it from joining them (docs/identity.md, "Guards").

with

links as (
    select * from {{ ref('int_identity_links_as_of') }}
    where not is_night_before
),

persons as (
    select * from {{ ref('int_identity_persons') }}
),

final as (
    select
        links.id_a,
        links.id_b,
        links.link_type,
        links.link_priority,
        links.linked_at,
        links.source_system,
        links.id_a_partners,
        links.id_b_partners,
        links.max_partners,
        persons_a.person_id as person_a,
        persons_b.person_id as person_b,
        case
            when links.exclusion_reason is not null then links.exclusion_reason
            -- Not excluded yet not joined: the priority guard left it out.
            when persons_a.person_id <> persons_b.person_id then 'joins_stronger_persons'
            else 'joined'
        end as link_status,
        {{ as_of_date() }} as as_of_date
    from links
    inner join persons as persons_a
        on links.id_a = persons_a.id
    inner join persons as persons_b
        on links.id_b = persons_b.id
)

select * from final
