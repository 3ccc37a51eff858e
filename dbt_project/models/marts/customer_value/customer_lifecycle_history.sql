{{ incremental_by_key('customer_id', marker_column='lifecycle_stage') }}

{#- Incrementally only the customers whose inputs changed, or who have a candidate day between
    the stored night and this one (macros/restated_per_customer.sql): a night's move
    restates a small share of the customers, the active ones. -#}
{% set every_candidate_day %}
    {{ lifecycle_candidate_days(
        customers=(
            '(select customer_id, cast(first_seen_at as date) as first_seen_on from '
            ~ ref('dim_customers') ~ ')'
        ),
        friend_events=ref('fct_friend_events'),
        purchase_days=ref('fct_purchase_days'),
    ) }}
{% endset %}

with

{{ restated_customers_cte(ref('customer_lifecycle_inputs'), every_candidate_day) }}

customers as (
    select
        customer_id,
        cast(first_seen_at as date) as first_seen_on
    from {{ ref('dim_customers') }}
    where {{ is_restated() }}
),

purchase_days as (
    select * from {{ ref('fct_purchase_days') }}
    where {{ is_restated() }}
),

-- The friendship state of each customer at the end of each day with a friend event.
friend_days as (
    select
        customer_id,
        event_on,
        sum(friend_delta) as friend_delta,
        sum(case when friend_delta = 1 then 1 else 0 end) as friendships_started
    from {{ ref('fct_friend_events') }}
    where {{ is_restated() }}
    group by customer_id, event_on
),

friend_states as (
    select
        customer_id,
        event_on,
        sum(friend_delta) over (
            partition by customer_id
            order by event_on
            rows between unbounded preceding and current row
        ) as current_friendships,
        sum(friendships_started) over (
            partition by customer_id
            order by event_on
            rows between unbounded preceding and current row
        ) as friendships_started
    from friend_days
),

first_purchases as (
    select
        customer_id,
        purchase_on as first_purchase_on
    from purchase_days
    where purchase_day_number = 1
),

-- A stage can only change on a day something happens or a span runs out.
candidate_days as (
    {{ lifecycle_candidate_days('customers', 'friend_states', 'purchase_days') }}
),

-- The latest purchase day and friend event day on or before each candidate day. Both are
-- candidate days themselves, so an equality join marks them and a running max carries them
-- forward. Joining each candidate day with the purchase day and friend state whose span
-- holds it gave the same rows, slower.
latest_days as (
    select
        candidate_days.customer_id,
        candidate_days.on_date,
        max(purchase_days.purchase_on) over (
            partition by candidate_days.customer_id
            order by candidate_days.on_date
            rows between unbounded preceding and current row
        ) as last_purchase_on,
        max(friend_states.event_on) over (
            partition by candidate_days.customer_id
            order by candidate_days.on_date
            rows between unbounded preceding and current row
        ) as last_friend_event_on
    from candidate_days
    left join purchase_days
        on
            candidate_days.customer_id = purchase_days.customer_id
            and candidate_days.on_date = purchase_days.purchase_on
    left join friend_states
        on
            candidate_days.customer_id = friend_states.customer_id
            and candidate_days.on_date = friend_states.event_on
    where candidate_days.on_date <= {{ as_of_date() }}
),

-- The state on each candidate day: the latest purchase and friend event on or before it.
states as (
    select
        latest_days.customer_id,
        latest_days.on_date,
        first_purchases.first_purchase_on,
        latest_days.last_purchase_on,
        purchase_days.previous_purchase_on,
        coalesce(friend_states.friendships_started, 0) as friendships_started,
        coalesce(friend_states.current_friendships, 0) as current_friendships
    from latest_days
    inner join customers
        on latest_days.customer_id = customers.customer_id
    left join first_purchases
        on
            latest_days.customer_id = first_purchases.customer_id
            and latest_days.on_date >= first_purchases.first_purchase_on
    left join purchase_days
        on
            latest_days.customer_id = purchase_days.customer_id
            and latest_days.last_purchase_on = purchase_days.purchase_on
    left join friend_states
        on
            latest_days.customer_id = friend_states.customer_id
            and latest_days.last_friend_event_on = friend_states.event_on
),

staged as (
    select
        customer_id,
        on_date,
        {{ lifecycle_stage(
            on_date='on_date',
            first_purchase_on='first_purchase_on',
            last_purchase_on='last_purchase_on',
            previous_purchase_on='previous_purchase_on',
            friendships_started='friendships_started',
            current_friendships='current_friendships',
        ) }} as lifecycle_stage
    from states
),

sequenced as (
    select
        *,
        lag(lifecycle_stage) over (partition by customer_id order by on_date) as stage_before
    from staged
),

changes as (
    select
        customer_id,
        lifecycle_stage,
        on_date as entered_on
    from sequenced
    where stage_before is null or stage_before <> lifecycle_stage
),

final as (
    select
        customer_id,
        lifecycle_stage,
        entered_on,
        lag(lifecycle_stage) over (partition by customer_id order by entered_on) as previous_stage,
        lead(entered_on) over (partition by customer_id order by entered_on) as left_on,
        {{ as_of_date() }} as as_of_date,
        {{ written_at() }} as _written_at
    from changes
)

select * from final
{{ restated_customer_markers() }}
