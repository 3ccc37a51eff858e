-- What the customer reference check finds for each customer id the customers rows name:
-- known (a clean row) and erased (an erasure request). A night writes only the ids whose
-- finding changed, an id gone from the rows included, so `_written_at` tells validation
-- which rows to check again.
-- Bookkeeping, in `audit`: the ids gone stay, so it differs from a full refresh's.
{{ config(schema='audit') }}
{{ replacing_rows_by_key('customer_id', post_hook=[]) }}

with

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

findings as (
    select
        customer_id,
        max(case when {{ is_clean_row() }} then 1 else 0 end) = 1 as is_known,
        max(case when is_erased then 1 else 0 end) = 1 as is_erased
    from customers
    where customer_id is not null
    group by customer_id
),

changed as (
    {%- if is_incremental() %}
    select
        coalesce(findings.customer_id, stored.customer_id) as customer_id,
        coalesce(findings.is_known, false) as is_known,
        coalesce(findings.is_erased, false) as is_erased
    from findings
    full outer join {{ this }} as stored
        on findings.customer_id = stored.customer_id
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
