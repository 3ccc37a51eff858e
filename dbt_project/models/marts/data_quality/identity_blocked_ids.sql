-- The ids the partner limit keeps out of every link on the night: a phone shared by a whole
-- shop, a test account. One row per id and link type over its link type's max_partners.

with

links as (
    select * from {{ ref('int_identity_links_as_of') }}
    where not is_night_before
),

ends as (
    select
        id_a as id,
        link_type,
        id_a_partners as partner_count,
        max_partners
    from links
    union all
    select
        id_b as id,
        link_type,
        id_b_partners as partner_count,
        max_partners
    from links
),

final as (
    select distinct
        id,
        link_type,
        partner_count,
        max_partners,
        {{ as_of_date() }} as as_of_date
    from ends
    where partner_count > max_partners
)

select * from final
