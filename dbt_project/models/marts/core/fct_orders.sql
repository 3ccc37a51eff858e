{{ incremental_by_key('order_id', marker_column='customer_id') }}
{#- A stored order whose customer id belongs to another person tonight (a link joined or
    split them, or a night rebuilt further back) is written again. #}
{%- set orders_of_another_person %}
            select stored.order_id from {{ this }} as stored
            left join {{ ref('int_identity_persons') }} as persons
                on stored.source_customer_id = persons.id
            where stored.customer_id <> coalesce(persons.person_id, stored.source_customer_id)
{%- endset %}

with

orders as (
    select * from {{ ref('int_orders_validated') }}
    where
        {{ is_clean_row() }}
        and ordered_at < {{ as_of_end() }}
),

order_lines as (
    select
        order_id,
        count(*) as line_count,
        cast(sum(quantity) as bigint) as item_quantity
    from {{ ref('int_order_items_validated') }}
    where {{ is_clean_row() }}
    group by order_id
),

orders_with_lines as (
    select
        orders.*,
        coalesce(order_lines.line_count, 0) as line_count,
        coalesce(order_lines.item_quantity, 0) as item_quantity
    from orders
    left join order_lines
        on orders.order_id = order_lines.order_id
),

-- The contract: a status whose own timestamp is empty happened when a dated version of the
-- order first showed it (not before order_ts); the current status of an undated one, at
-- order_ts (stg_raw__orders).
recorded as (
    select
        *,
        -- greatest() skips a null: the case keeps a status never shown out
        coalesce(
            paid_at,
            case
                when paid_shown_at is not null then greatest(ordered_at, paid_shown_at)
            end,
            case when current_status = 'paid' then ordered_at end
        ) as paid_recorded_at,
        coalesce(
            confirmed_at,
            case
                when confirmed_shown_at is not null then greatest(ordered_at, confirmed_shown_at)
            end,
            case when current_status = 'confirmed' then ordered_at end
        ) as confirmed_recorded_at,
        coalesce(
            cancelled_at,
            case
                when cancelled_shown_at is not null then greatest(ordered_at, cancelled_shown_at)
            end,
            case when current_status = 'cancelled' then ordered_at end
        ) as cancelled_recorded_at,
        coalesce(
            refunded_at,
            case
                when refunded_shown_at is not null then greatest(ordered_at, refunded_shown_at)
            end,
            case when current_status = 'refunded' then ordered_at end
        ) as refunded_recorded_at
    from orders_with_lines
),

-- Confirmation and refund imply payment: the order counts as paid at the earliest of the
-- three (a payment first shown by a delivery after a refund dated before it was paid by then).
implied as {{ inlined_cte() }} (
    select
        *,
        least(paid_recorded_at, confirmed_recorded_at, refunded_recorded_at)
            as paid_effective_at
    from recorded
),

-- An order's row follows from its validated row, its lines and the night: incrementally, the
-- orders validation wrote since, and those with a time between the stored night and this one
-- (its statuses, as recorded or first shown).
orders_to_write as (
    select * from {{ rows_of_keys_written_since(
        'implied', 'order_id',
        upstreams=[ref('int_orders_validated'), ref('int_order_items_validated')],
        night_timestamps=[
            'ordered_at', 'paid_at', 'paid_shown_at', 'confirmed_at', 'confirmed_shown_at',
            'cancelled_at', 'cancelled_shown_at', 'refunded_at', 'refunded_shown_at',
        ],
        also_keys=orders_of_another_person,
    ) }}
),

-- Point in time: a status change after the as-of day has not happened yet.
as_of as (
    select
        *,
        case when paid_effective_at < {{ as_of_end() }} then paid_effective_at end
            as paid_as_of_at,
        case when confirmed_recorded_at < {{ as_of_end() }} then confirmed_recorded_at end
            as confirmed_as_of_at,
        case when cancelled_recorded_at < {{ as_of_end() }} then cancelled_recorded_at end
            as cancelled_as_of_at,
        case when refunded_recorded_at < {{ as_of_end() }} then refunded_recorded_at end
            as refunded_as_of_at
    from orders_to_write
),

-- The latest status change on or before the as-of day wins; on equal timestamps the later
-- step of the lifecycle wins (refunded > cancelled > confirmed > paid > created).
statused as (
    select
        *,
        case
            when
                refunded_as_of_at is not null
                and refunded_as_of_at >= coalesce(cancelled_as_of_at, refunded_as_of_at)
                and refunded_as_of_at >= coalesce(confirmed_as_of_at, refunded_as_of_at)
                and refunded_as_of_at >= coalesce(paid_as_of_at, refunded_as_of_at)
                then 'refunded'
            when
                cancelled_as_of_at is not null
                and cancelled_as_of_at >= coalesce(confirmed_as_of_at, cancelled_as_of_at)
                and cancelled_as_of_at >= coalesce(paid_as_of_at, cancelled_as_of_at)
                then 'cancelled'
            when
                confirmed_as_of_at is not null
                and confirmed_as_of_at >= coalesce(paid_as_of_at, confirmed_as_of_at)
                then 'confirmed'
            when paid_as_of_at is not null then 'paid'
            else 'created'
        end as order_status,
        -- A purchase: paid and, as of the date, neither refunded nor cancelled.
        (
            paid_as_of_at is not null
            and refunded_as_of_at is null
            and cancelled_as_of_at is null
        ) as is_net_paid
    from as_of
),

-- The person each order's customer id is on the night (docs/identity.md): without links,
-- the customer id itself.
persons as (
    select * from {{ ref('int_identity_persons') }}
),

final as (
    select
        statused.order_id,
        coalesce(persons.person_id, statused.customer_id) as customer_id,
        statused.customer_id as source_customer_id,

        -- when and where
        statused.ordered_at,
        cast(statused.ordered_at as date) as ordered_on,
        statused.sales_channel,
        statused.ship_province,

        -- status as of the as-of date
        statused.order_status,
        statused.paid_as_of_at as paid_at,
        cast(statused.paid_as_of_at as date) as paid_on,
        statused.confirmed_as_of_at as confirmed_at,
        statused.cancelled_as_of_at as cancelled_at,
        statused.refunded_as_of_at as refunded_at,
        statused.paid_as_of_at is not null as is_paid,
        statused.confirmed_as_of_at is not null as is_confirmed,
        statused.cancelled_as_of_at is not null as is_cancelled,
        statused.refunded_as_of_at is not null as is_refunded,
        statused.is_net_paid,

        -- amounts
        statused.total_amount_cny,
        coalesce(statused.discount_amount_cny, 0) as discount_amount_cny,
        coalesce(statused.discount_amount_cny, 0) > 0 as has_discount,
        case when statused.is_net_paid then statused.total_amount_cny else 0 end
            as net_paid_amount_cny,

        -- lines
        statused.line_count,
        statused.item_quantity,

        statused._raw_row_number,
        {{ as_of_date() }} as as_of_date,
        {{ written_at() }} as _written_at
    from statused
    left join persons
        on statused.customer_id = persons.id
)

select * from final
