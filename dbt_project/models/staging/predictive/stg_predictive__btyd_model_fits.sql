with

fits as (
    select * from {{ source('predictive', 'btyd_model_fits') }}
),

final as (
    select
        model,
        status as fit_status,
        detail as fit_detail
    from fits
    where cast(as_of_date as date) = {{ as_of_date() }}
)

select * from final
