{{ incremental_by_numbered_key('customer_id', 'event_number', marker_column='event_type') }}
{#- The stored columns an event's fingerprint covers: all but the number and the night's. #}
{%- set fingerprinted = [
    'happened_at', 'event_type', 'source_id', 'staff_id', 'channel_code', 'amount_cny', 'topic',
] %}

with

-- Inlined: `events` is read twice when incremental, and a fact read twice would otherwise be
-- copied whole first.
friend_events as {{ inlined_cte() }} (
    select * from {{ ref('fct_friend_events') }}
),

orders as {{ inlined_cte() }} (
    select * from {{ ref('fct_orders') }}
),

interactions as {{ inlined_cte() }} (
    select * from {{ ref('fct_interactions') }}
),

-- One stream of everything that happened to each customer up to the as-of date. The order
-- of events at the same moment follows the order of a purchase: placed, paid, cancelled,
-- refunded. Read twice when incremental (fingerprinted, then the changed customers' rows).
events as {{ inlined_cte() }} (
    select
        customer_id,
        event_at as happened_at,
        case
            when event_type = 'add' then 'friend_added'
            when event_type = 'delete_by_customer' then 'friend_deleted_by_customer'
            else 'friend_deleted_by_staff'
        end as event_type,
        event_id as source_id,
        staff_id,
        coalesce(channel_code, acquisition_channel_code) as channel_code,
        cast(null as decimal(18, 2)) as amount_cny,
        cast(null as {{ dbt.type_string() }}) as topic,
        1 as same_moment_order
    from friend_events
    where friend_delta <> 0

    union all

    select
        customer_id,
        ordered_at as happened_at,
        'order_placed' as event_type,
        order_id as source_id,
        cast(null as {{ dbt.type_string() }}) as staff_id,
        sales_channel as channel_code,
        total_amount_cny as amount_cny,
        cast(null as {{ dbt.type_string() }}) as topic,
        2 as same_moment_order
    from orders

    union all

    select
        customer_id,
        paid_at as happened_at,
        'order_paid' as event_type,
        order_id as source_id,
        cast(null as {{ dbt.type_string() }}) as staff_id,
        sales_channel as channel_code,
        total_amount_cny as amount_cny,
        cast(null as {{ dbt.type_string() }}) as topic,
        3 as same_moment_order
    from orders
    where is_paid

    union all

    select
        customer_id,
        cancelled_at as happened_at,
        'order_cancelled' as event_type,
        order_id as source_id,
        cast(null as {{ dbt.type_string() }}) as staff_id,
        sales_channel as channel_code,
        total_amount_cny as amount_cny,
        cast(null as {{ dbt.type_string() }}) as topic,
        4 as same_moment_order
    from orders
    where is_cancelled

    union all

    select
        customer_id,
        refunded_at as happened_at,
        'order_refunded' as event_type,
        order_id as source_id,
        cast(null as {{ dbt.type_string() }}) as staff_id,
        sales_channel as channel_code,
        total_amount_cny as amount_cny,
        cast(null as {{ dbt.type_string() }}) as topic,
        5 as same_moment_order
    from orders
    where is_refunded

    union all

    select
        customer_id,
        interacted_at as happened_at,
        {{ dbt.concat(["'interaction_'", 'interaction_type']) }} as event_type,
        interaction_id as source_id,
        staff_id,
        cast(null as {{ dbt.type_string() }}) as channel_code,
        cast(null as decimal(18, 2)) as amount_cny,
        topic,
        6 as same_moment_order
    from interactions
),

{%- if is_incremental() %}

-- Incrementally only the customers whose events changed, found by the count and the
-- fingerprint (the sum of the rows' 64-bit hashes) of their events:
-- - a customer whose stored events are all still there, unchanged, and only precede new
--   ones (strictly earlier) gets the new ones alone, numbered on after the stored ones: a
--   customer's new day of events;
-- - any other changed customer is numbered again from 1; a marker row (the customer and the
--   number alone) follows their last event when they have fewer events than stored, or
--   stands alone when they have none left (incremental_by_numbered_key);
-- - an unchanged customer is not written.
-- The numbering of a full build is the same: the stored events sort first, in their order.
stored_customers as (
    select
        customer_id,
        count(*) as event_count,
        {{ rows_fingerprint(fingerprinted) }} as fingerprint,
        max(happened_at) as last_happened_at
    from {{ this }}
    group by customer_id
),

-- Per customer: all their events, and those no later than their last stored one.
customers_tonight as (
    select
        events.customer_id,
        count(*) as event_count,
        count(*) filter (
            where events.happened_at <= stored_customers.last_happened_at
        ) as earlier_event_count,
        {{ rows_fingerprint(fingerprinted) }} filter (
            where events.happened_at <= stored_customers.last_happened_at
        ) as earlier_fingerprint
    from events
    left join stored_customers
        on events.customer_id = stored_customers.customer_id
    group by events.customer_id
),

compared as (
    select
        coalesce(customers_tonight.customer_id, stored_customers.customer_id) as customer_id,
        coalesce(customers_tonight.event_count, 0) as event_count,
        coalesce(stored_customers.event_count, 0) as stored_event_count,
        stored_customers.last_happened_at,
        coalesce(
            customers_tonight.earlier_event_count = stored_customers.event_count
            and customers_tonight.earlier_fingerprint = stored_customers.fingerprint,
            false
        ) as keeps_stored_events
    from customers_tonight
    full outer join stored_customers
        on customers_tonight.customer_id = stored_customers.customer_id
),

changed_customers as (
    select
        customer_id,
        keeps_stored_events,
        last_happened_at,
        case when keeps_stored_events then stored_event_count else 0 end as numbered_after,
        case
            when not keeps_stored_events and event_count < stored_event_count
                then event_count + 1
        end as marker_number
    from compared
    where not keeps_stored_events or event_count > stored_event_count
),

events_to_number as (
    select
        events.*,
        changed_customers.numbered_after
    from events
    inner join changed_customers
        on events.customer_id = changed_customers.customer_id
    where
        not changed_customers.keeps_stored_events
        or events.happened_at > changed_customers.last_happened_at
),
{%- endif %}

numbered as (
    {%- if is_incremental() %}
    select
        * exclude (numbered_after),
        numbered_after + row_number() over (
            partition by customer_id order by happened_at, same_moment_order, source_id
        ) as event_number
    from events_to_number

    -- The marker rows: every other column null (only DuckDB numbers incrementally).
    union all by name

    select
        customer_id,
        marker_number as event_number
    from changed_customers
    where marker_number is not null
    {%- else %}
        select
            *,
            row_number() over (
                partition by customer_id order by happened_at, same_moment_order, source_id
            ) as event_number
        from events
    {%- endif %}
),

final as (
    select
        customer_id,
        event_number,
        happened_at,
        event_type,
        source_id,
        staff_id,
        channel_code,
        amount_cny,
        topic,
        {{ as_of_date() }} as as_of_date,
        {{ written_at() }} as _written_at
    from numbered
)

select * from final
