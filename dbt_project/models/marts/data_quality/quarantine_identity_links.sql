with

identity_links as (
    select * from {{ ref('int_identity_links_validated') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        id_a,
        id_b,
        raw_link_type as link_type,
        raw_linked_at as linked_at,
        source_system,
        raw_deleted as _deleted
    from identity_links
    where quarantine_reason is not null
)

select * from final
