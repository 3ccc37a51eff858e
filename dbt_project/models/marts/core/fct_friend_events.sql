{{ incremental_by_key('source_customer_id', marker_column='event_id') }}
{#- The customer ids whose stored events belong to another person tonight (a link joined or
    split them, or a night rebuilt further back) are written again. #}
{%- set ids_of_another_person %}
            select distinct stored.source_customer_id from {{ this }} as stored
            left join {{ ref('int_identity_persons') }} as persons
                on stored.source_customer_id = persons.id
            where stored.customer_id <> coalesce(persons.person_id, stored.source_customer_id)
{%- endset %}

with

-- Keyed by the id the events know the customer by (a WeCom external_userid): a friendship
-- is that id's, and WeCom is told of it under that id.
friend_events as (
    select
        *,
        customer_id as source_customer_id
    from {{ ref('int_friend_events_validated') }}
    where
        {{ is_clean_row() }}
        and event_at < {{ as_of_end() }}
),

-- An event's row follows from its friendship's events and the person of its customer id:
-- incrementally, every event of the customer ids with an event validation wrote since, or one
-- the night moves, or of another person tonight, is sequenced again (before the windows, which
-- DuckDB does not push a filter through).
events_to_sequence as (
    select * from {{ rows_of_keys_written_since(
        'friend_events', 'source_customer_id',
        upstreams=[ref('int_friend_events_validated')], night_timestamps=['event_at'],
        upstream_key='customer_id', also_keys=ids_of_another_person,
    ) }}
),

-- A friendship is one (customer id, staff) pair. Events are read in time order per pair; an
-- add to an existing friendship, or a delete of one that does not exist, changes nothing.
sequenced as (
    select
        *,
        lag(event_type) over (
            partition by source_customer_id, staff_id
            order by event_at, event_id
        ) as previous_event_type
    from events_to_sequence
),

effects as (
    select
        *,
        case
            when event_type = 'add' and coalesce(previous_event_type, 'none') <> 'add' then 1
            when event_type <> 'add' and previous_event_type = 'add' then -1
            else 0
        end as friend_delta
    from sequenced
),

numbered as (
    select
        *,
        sum(case when friend_delta = 1 then 1 else 0 end) over (
            partition by source_customer_id, staff_id
            order by event_at, event_id
            rows between unbounded preceding and current row
        ) as friendship_number
    from effects
),

-- A deletion is credited to the channel that brought the friendship it ends.
attributed as (
    select
        *,
        max(case when friend_delta = 1 then channel_code end) over (
            partition by source_customer_id, staff_id, friendship_number
        ) as acquisition_channel_code
    from numbered
),

-- The person each customer id is on the night (docs/identity.md): without links, the id.
persons as (
    select * from {{ ref('int_identity_persons') }}
),

final as (
    select
        attributed.event_id,
        coalesce(persons.person_id, attributed.source_customer_id) as customer_id,
        attributed.source_customer_id,
        attributed.staff_id,
        attributed.event_type,
        attributed.event_at,
        cast(attributed.event_at as date) as event_on,
        attributed.channel_code,
        attributed.channel_name,
        attributed.acquisition_channel_code,
        attributed.friendship_number,
        attributed.friend_delta,
        attributed.event_type = 'add' as is_friend_after_event,
        attributed._raw_row_number,
        {{ as_of_date() }} as as_of_date,
        {{ written_at() }} as _written_at
    from attributed
    left join persons
        on attributed.source_customer_id = persons.id
)

select * from final
