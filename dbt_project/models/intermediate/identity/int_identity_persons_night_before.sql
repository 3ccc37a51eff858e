-- Which person each id was the night before (int_identity_persons, as of the day before):
-- what person_merges compares tonight's persons with. Worked out again from the data up to
-- that night, so it is exact whether or not that night was built, and a rebuilt night
-- compares with the same persons.
-- depends_on: {{ ref('int_identity_links_as_of') }}
{{ config(
    pre_hook="{{ stitch_identity(
        ref('int_identity_ids'), ref('int_identity_links_as_of'), night_before=true
    ) }}",
    post_hook="{{ drop_identity_labels() }}",
) }}

with

ids as (
    select * from {{ ref('int_identity_ids') }}
    where is_night_before
),

labels as (
    select * from {{ identity_labels_relation() }}
),

final as (
    select
        ids.id,
        persons.id as person_id
    from ids
    inner join labels
        on ids.id_rank = labels.node
    inner join ids as persons
        on labels.label = persons.id_rank
)

select * from final
