-- What the order reference check of order lines finds for each order id the validated orders
-- name: known (a clean row) and erased (its customer's erasure). A night writes only the ids
-- whose finding changed, an id gone from the rows included, so `_written_at` tells
-- validation which lines to check again.
-- Bookkeeping, in `audit`: the ids gone stay, so it differs from a full refresh's.
{{ config(schema='audit') }}
{{ replacing_rows_by_key('order_id', post_hook=[]) }}

with

orders as (
    select * from {{ ref('int_orders_validated') }}
),

findings as (
    select
        order_id,
        max(case when {{ is_clean_row() }} then 1 else 0 end) = 1 as is_known,
        max(case when is_erased then 1 else 0 end) = 1 as is_erased
    from orders
    where order_id is not null
    group by order_id
),

changed as (
    {%- if is_incremental() %}
    select
        coalesce(findings.order_id, stored.order_id) as order_id,
        coalesce(findings.is_known, false) as is_known,
        coalesce(findings.is_erased, false) as is_erased
    from findings
    full outer join {{ this }} as stored
        on findings.order_id = stored.order_id
    where
        coalesce(findings.is_known, false) is distinct from stored.is_known
        or coalesce(findings.is_erased, false) is distinct from stored.is_erased
    {%- else %}
        select * from findings
    {%- endif %}
),

final as (
    select
        *,
        {{ written_at() }} as _written_at
    from changed
)

select * from final
