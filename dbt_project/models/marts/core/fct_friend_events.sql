{{ incremental_by_key('customer_id', marker_column='event_id') }}

with

friend_events as (
    select * from {{ ref('int_friend_events_validated') }}
    where
        {{ is_clean_row() }}
        and event_at < {{ as_of_end() }}
),

-- An event's row follows from its friendship's events: incrementally, every event of the
-- customers with an event validation wrote since, or one the night moves, is sequenced again
-- (before the windows, which DuckDB does not push a filter through).
events_to_sequence as (
    select * from {{ rows_of_keys_written_since(
        'friend_events', 'customer_id',
        upstreams=[ref('int_friend_events_validated')], night_timestamps=['event_at'],
    ) }}
),

-- A friendship is one (customer, staff) pair. Events are read in time order per pair; an add
-- to an existing friendship, or a delete of one that does not exist, changes nothing.
sequenced as (
    select
        *,
        lag(event_type) over (
            partition by customer_id, staff_id
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
            partition by customer_id, staff_id
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
            partition by customer_id, staff_id, friendship_number
        ) as acquisition_channel_code
    from numbered
),

final as (
    select
        event_id,
        customer_id,
        staff_id,
        event_type,
        event_at,
        cast(event_at as date) as event_on,
        channel_code,
        channel_name,
        acquisition_channel_code,
        friendship_number,
        friend_delta,
        event_type = 'add' as is_friend_after_event,
        _raw_row_number,
        {{ as_of_date() }} as as_of_date,
        {{ written_at() }} as _written_at
    from attributed
)

select * from final
