-- The links that hold on the night, one row per pair of ids and link type, with the guard
-- against over-merging that needs no graph: an id linked by one type to more other ids than
-- the type's max_partners (a shared phone, a test account) takes part in no link at all.
-- The other guard, by priority, needs the persons and is the stitcher's
-- (int_identity_persons). The links that held the night before are here too
-- (is_night_before), for the persons of that night, which person_merges compares with.

{%- set link_types = var('identity')['link_types'] %}

with

nights as (
    select
        false as is_night_before,
        {{ as_of_end() }} as night_end
    union all
    select
        true as is_night_before,
        cast({{ as_of_date() }} as timestamp) as night_end
),

-- The delivered links, and those the sources' typed ids give (never withdrawn; after a
-- delivered row of the same time and pair).
links as (
    select
        id_a,
        id_b,
        link_type,
        linked_at,
        source_system,
        is_withdrawal,
        _raw_row_number
    from {{ ref('int_identity_links_validated') }}
    where {{ is_clean_row() }} and linked_at < {{ as_of_end() }}

    union all

    select
        id_a,
        id_b,
        link_type,
        linked_at,
        source_system,
        false as is_withdrawal,
        cast(0 as {{ dbt.type_bigint() }}) as _raw_row_number
    from {{ ref('int_identity_links_from_sources') }}
    where linked_at < {{ as_of_end() }}
),

-- A link has no direction: the pair in one order; each night takes the links before its end.
pairs as (
    select
        nights.is_night_before,
        case when links.id_a < links.id_b then links.id_a else links.id_b end as id_a,
        case when links.id_a < links.id_b then links.id_b else links.id_a end as id_b,
        links.link_type,
        links.linked_at,
        links.source_system,
        links.is_withdrawal,
        links._raw_row_number
    from links
    inner join nights
        on links.linked_at < nights.night_end
),

-- The latest row of a pair and type up to the night decides: a withdrawal ends the link.
latest as (
    select
        *,
        row_number() over (
            partition by is_night_before, id_a, id_b, link_type
            order by linked_at desc, _raw_row_number desc
        ) as recency
    from pairs
),

held as (
    select
        is_night_before,
        id_a,
        id_b,
        link_type,
        linked_at,
        source_system
    from latest
    where recency = 1 and not is_withdrawal
),

link_types as (
    {%- for link_type in link_types %}
        select
            '{{ link_type.name }}' as link_type,
            {{ loop.index }} as link_priority,
            {{ link_type.max_partners }} as max_partners
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

partners as (
    select
        is_night_before,
        id_a as id,
        link_type,
        count(*) as partner_count
    from (
        select
            is_night_before,
            id_a,
            link_type
        from held
        union all
        select
            is_night_before,
            id_b as id_a,
            link_type
        from held
    ) as ends
    group by is_night_before, id_a, link_type
),

blocked_ids as (
    select distinct
        partners.is_night_before,
        partners.id
    from partners
    inner join link_types
        on partners.link_type = link_types.link_type
    where partners.partner_count > link_types.max_partners
),

final as (
    select
        held.is_night_before,
        held.id_a,
        held.id_b,
        held.link_type,
        link_types.link_priority,
        held.linked_at,
        held.source_system,
        partners_a.partner_count as id_a_partners,
        partners_b.partner_count as id_b_partners,
        link_types.max_partners,
        case
            when blocked_a.id is not null or blocked_b.id is not null
                then 'id_over_partner_limit'
        end as exclusion_reason
    from held
    inner join link_types
        on held.link_type = link_types.link_type
    inner join partners as partners_a
        on
            held.is_night_before = partners_a.is_night_before
            and held.id_a = partners_a.id
            and held.link_type = partners_a.link_type
    inner join partners as partners_b
        on
            held.is_night_before = partners_b.is_night_before
            and held.id_b = partners_b.id
            and held.link_type = partners_b.link_type
    left join blocked_ids as blocked_a
        on held.is_night_before = blocked_a.is_night_before and held.id_a = blocked_a.id
    left join blocked_ids as blocked_b
        on held.is_night_before = blocked_b.is_night_before and held.id_b = blocked_b.id
)

select * from final
