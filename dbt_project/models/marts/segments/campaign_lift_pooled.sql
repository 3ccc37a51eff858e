{#-
    The campaign lift per segment over every entry night whose conversion window has ended:
    campaign_lift's counts summed, with the same intervals (macros/statistics.sql). One night's
    entries are often too few to tell; pooled, the nights of a segment that runs every night
    are not. The nightly report shows this table and draws it, in percentage points to one
    decimal: rounded here to four decimals like campaign_lift, a bound at .x5 points would be
    rounded twice, so six.
-#}

with

complete_windows as (
    select * from {{ ref('campaign_lift') }}
    where is_window_complete
),

pooled as (
    select
        segment_name,
        count(*) as entry_nights,
        max(min_arm_customers) as min_arm_customers,
        sum(treated_customers) as treated_customers,
        sum(treated_converted) as treated_converted,
        sum(holdout_customers) as holdout_customers,
        sum(holdout_converted) as holdout_converted
    from complete_windows
    group by segment_name
),

rates as (
    select
        *,
        cast(treated_converted as double) / nullif(treated_customers, 0) as treated_rate,
        cast(holdout_converted as double) / nullif(holdout_customers, 0) as holdout_rate
    from pooled
),

intervals as (
    select
        *,
        {{ wilson_bound('treated_converted', 'treated_customers', 'low') }} as treated_rate_low,
        {{ wilson_bound('treated_converted', 'treated_customers', 'high') }} as treated_rate_high,
        {{ wilson_bound('holdout_converted', 'holdout_customers', 'low') }} as holdout_rate_low,
        {{ wilson_bound('holdout_converted', 'holdout_customers', 'high') }} as holdout_rate_high
    from rates
),

final as (
    select
        segment_name,
        entry_nights,
        min_arm_customers,
        least(treated_customers, holdout_customers) < min_arm_customers as too_few_to_tell,
        treated_customers,
        treated_converted,
        round(treated_rate, 6) as treated_conversion_rate,
        holdout_customers,
        holdout_converted,
        round(holdout_rate, 6) as holdout_conversion_rate,
        round(treated_rate - holdout_rate, 6) as conversion_lift,
        round({{ newcombe_bound('low') }}, 6) as conversion_lift_ci_low,
        round({{ newcombe_bound('high') }}, 6) as conversion_lift_ci_high,
        {{ as_of_date() }} as as_of_date
    from intervals
)

select * from final
