{#-
    One row per customer erased on request (PIPL's right to deletion): the customer's winning
    version is a tombstone, a customers row delivered with `_deleted = true`. Their rows in every
    source are counted as erased and reach no fact, tag, segment or export; the tables that keep
    earlier nights drop their rows after each build (kept_per_night). Only the id and the
    request stay, as the record that it was carried out.
-#}

with

tombstones as (
    select * from {{ ref('stg_raw__customers') }}
    where is_erased and is_tombstone
),

final as (
    select
        customer_id,
        updated_at as requested_at,
        _source_file as delivered_in
    from tombstones
)

select * from final
