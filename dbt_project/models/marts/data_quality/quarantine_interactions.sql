-- Incremental: only the positions the validated rows were written at since this table was
-- (macros/incremental.sql).
{{ incremental_quarantine("ref('int_interactions_validated')") }}

with

interactions as (
    select * from {{ ref('int_interactions_validated') }}
),

final as (
    select
        _raw_row_number,
        _source_file,
        quarantine_reason,
        interaction_id,
        customer_id,
        staff_id,
        raw_interaction_ts as interaction_ts,
        raw_interaction_type as interaction_type,
        content_id,
        topic,
        raw_duration_s as duration_s,
        {{ written_at() }} as _written_at
    from interactions
    where {{ quarantined_or_rewritten() }}
)

select * from final
