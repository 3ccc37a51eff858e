-- Bookkeeping of customer_lifecycle_history, in `audit`: one fingerprint per known customer
-- of what the mart reads of them (and of the vars it reads). A night writes only the
-- customers whose fingerprint changed, a customer gone included (a null fingerprint), so
-- `_written_at` tells the mart whom to restate (docs/incremental.md).
{{ config(schema='audit') }}
{{ replacing_rows_by_key('customer_id', post_hook=[]) }}

with

purchases as (
    select
        customer_id,
        count(*) as row_count,
        {{ rows_fingerprint(['purchase_on', 'purchase_day_number', 'previous_purchase_on']) }}
            as fingerprint
    from {{ ref('fct_purchase_days') }}
    group by customer_id
),

friendships as (
    select
        customer_id,
        count(*) as row_count,
        {{ rows_fingerprint(['event_on', 'friend_delta']) }} as fingerprint
    from {{ ref('fct_friend_events') }}
    group by customer_id
),

fingerprints as (
    select
        customers.customer_id,
        {{ row_fingerprint([
            'cast(customers.first_seen_at as date)',
            'purchases.row_count',
            'purchases.fingerprint',
            'friendships.row_count',
            'friendships.fingerprint',
            var('lifecycle_new_days'),
            var('lifecycle_churn_days'),
        ]) }} as inputs_fingerprint
    from {{ ref('dim_customers') }} as customers
    left join purchases
        on customers.customer_id = purchases.customer_id
    left join friendships
        on customers.customer_id = friendships.customer_id
),

changed as (
    {%- if is_incremental() %}
    select
        coalesce(fingerprints.customer_id, stored.customer_id) as customer_id,
        fingerprints.inputs_fingerprint
    from fingerprints
    full outer join {{ this }} as stored
        on fingerprints.customer_id = stored.customer_id
    where fingerprints.inputs_fingerprint is distinct from stored.inputs_fingerprint
    {%- else %}
        select * from fingerprints
    {%- endif %}
),

final as (
    select
        *,
        {{ written_at() }} as _written_at
    from changed
)

select * from final
