-- The staging checks plus the customer reference check: a row of an erased customer is
-- erased, one whose customer is not known (a clean customers row) is `unknown_customer`.
-- Kept per raw row: a night checks again the rows staging wrote since and those of the
-- customers whose finding changed since (int_known_customers), and writes them all again.
{{ incremental_by_raw_row("ref('stg_raw__interactions')") }}
{%- set checked_until = stored_latest_write() %}

with

staged as (
    select * from {{ ref('stg_raw__interactions') }}
    {%- if is_incremental() %}
    where _written_at > {{ checked_until }}

    -- A scan of its own: an `or` of the two read every column of every row.
    union

    select * from {{ ref('stg_raw__interactions') }}
    where customer_id in (
        select customer_id from {{ ref('int_known_customers') }}
        where _written_at > {{ checked_until }}
    )
    {%- endif %}
),

known_customers as (
    select * from {{ ref('int_known_customers') }}
),

validated as (
    select
        {{ star(
            ref('stg_raw__interactions'),
            except=['quarantine_reason', '_written_at', '_loaded_at', 'is_erased'],
            relation_alias='staged',
        ) }},
        (
            not staged.is_exact_duplicate
            and not staged.is_superseded
            and coalesce(known_customers.is_erased, false)
        ) as is_erased,
        case
            when staged.is_exact_duplicate or staged.is_superseded then null
            when known_customers.is_erased then null
            when staged.quarantine_reason is not null then staged.quarantine_reason
            when not coalesce(known_customers.is_known, false) then 'unknown_customer'
        end as quarantine_reason
    from staged
    left join known_customers
        on staged.customer_id = known_customers.customer_id
),

final as (
    select
        *,
        {{ written_at() }} as _written_at
    from validated
)

select * from final
