-- What the product reference check of order lines finds for each sku id the products rows
-- name: known (a clean row). A night writes only the ids whose finding changed, an id gone
-- from the rows included, so `_written_at` tells validation which lines to check again.
-- Bookkeeping, in `audit`: the ids gone stay, so it differs from a full refresh's.
{{ config(schema='audit') }}
{{ replacing_rows_by_key('sku_id', post_hook=[]) }}

with

products as (
    select * from {{ ref('stg_raw__products') }}
),

findings as (
    select
        sku_id,
        max(case when {{ is_clean_row() }} then 1 else 0 end) = 1 as is_known
    from products
    where sku_id is not null
    group by sku_id
),

changed as (
    {%- if is_incremental() %}
    select
        coalesce(findings.sku_id, stored.sku_id) as sku_id,
        coalesce(findings.is_known, false) as is_known
    from findings
    full outer join {{ this }} as stored
        on findings.sku_id = stored.sku_id
    where coalesce(findings.is_known, false) is distinct from stored.is_known
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
