-- Which person each id is on the night: the connected components of the links that hold
-- (int_identity_links_as_of), joined strongest link type first, each person named by their
-- oldest id (int_identity_ids). The rounds run in the pre-hook (macros/identity.sql) and
-- leave each id's label, the rank of its person's oldest id, in a work table read here.
-- depends_on: {{ ref('int_identity_links_as_of') }}
{{ config(
    pre_hook="{{ stitch_identity(ref('int_identity_ids'), ref('int_identity_links_as_of')) }}",
    post_hook="{{ drop_identity_labels() }}",
) }}

with

ids as (
    select * from {{ ref('int_identity_ids') }}
    where not is_night_before
),

labels as (
    select * from {{ identity_labels_relation() }}
),

final as (
    select
        ids.id,
        persons.id as person_id,
        ids.is_customer_id,
        ids.first_seen_at,
        count(*) over (partition by labels.label) as person_id_count
    from ids
    inner join labels
        on ids.id_rank = labels.node
    inner join ids as persons
        on labels.label = persons.id_rank
)

select * from final
