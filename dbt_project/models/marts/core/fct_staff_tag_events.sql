-- Tags added and removed by hand in WeCom, up to the night, of the tags in the library then.
-- A tag sits on a friendship (staff, customer id): an add while set, or a remove while not,
-- changes nothing. The tags our own nightly sync set (var wecom_sync_tag_group, named as a
-- segment's wecom_tag) come back in the same feed: they are flagged, not staff's.
{%- set synced_tags = [] %}
{%- for declared in registered_segment_declarations().values() if declared.get('wecom_tag') %}
    {%- do synced_tags.append(tag_literal(declared['wecom_tag'], 'text')) %}
{%- endfor %}

with

tag_events as (
    select
        *,
        customer_id as source_customer_id
    from {{ ref('int_staff_tags_validated') }}
    where
        {{ is_clean_row() }}
        and event_at < {{ as_of_end() }}
),

library as (
    select * from {{ ref('dim_tag_library') }}
),

in_library as (
    select tag_events.*
    from tag_events
    inner join library
        on
            tag_events.tag_group = library.tag_group
            and tag_events.tag_name = library.tag_name
),

sequenced as (
    select
        *,
        lag(tag_action) over (
            partition by staff_id, source_customer_id, tag_group, tag_name
            order by event_at
        ) as previous_tag_action
    from in_library
),

effects as (
    select
        *,
        case
            when tag_action = 'add' and coalesce(previous_tag_action, 'none') <> 'add' then 1
            when tag_action = 'remove' and previous_tag_action = 'add' then -1
            else 0
        end as tag_delta,
        coalesce(
            tag_group = {{ tag_literal(var('wecom_sync_tag_group'), 'text') }}
            and tag_name in ({{ (synced_tags or ["''"]) | join(', ') }}),
            false
        ) as is_warehouse_sync
    from sequenced
),

-- The person each customer id is on the night (docs/identity.md): without links, the id.
persons as (
    select * from {{ ref('int_identity_persons') }}
),

final as (
    select
        effects.staff_id,
        coalesce(persons.person_id, effects.source_customer_id) as customer_id,
        effects.source_customer_id,
        effects.tag_group,
        effects.tag_name,
        effects.tag_action,
        effects.event_at,
        cast(effects.event_at as date) as event_on,
        effects.tag_delta,
        effects.is_warehouse_sync,
        effects._raw_row_number,
        {{ as_of_date() }} as as_of_date
    from effects
    left join persons
        on effects.source_customer_id = persons.id
)

select * from final
