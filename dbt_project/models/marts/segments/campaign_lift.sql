{#-
    Did the push work? For each segment with a holdout, and each night customers entered it,
    the treated (exported) and holdout members of that entry compared on what the segment
    targets: a paid order within campaign_conversion_days after the entry night, and the net
    amount paid in that window. 95% intervals: Wilson per arm's rate, Newcombe's hybrid score
    for the difference of rates, Welch's t for the difference of spend (macros/statistics.sql;
    docs/segments.md says why). Orders count up to the as-of date: windows still open say so
    in is_window_complete.
-#}
{%- set window_days = var('campaign_conversion_days') %}
{%- set min_arm_customers = var('campaign_min_arm_customers') %}

with

nights as (
    select distinct as_of_date from {{ ref('segment_membership') }}
    where as_of_date <= {{ as_of_date() }}
),

night_before as (
    select
        as_of_date,
        lag(as_of_date) over (order by as_of_date) as previous_night
    from nights
),

measured_segments as (
    select segment_name from {{ ref('segment_catalog') }}
    where holdout_share > 0
),

-- A member is in the test when exported (treated) or held out; other suppressions are not.
tested as (
    select
        membership.segment_name,
        membership.customer_id,
        membership.as_of_date,
        case when membership.is_exported then 'treated' else 'holdout' end as arm
    from {{ ref('segment_membership') }} as membership
    inner join measured_segments
        on membership.segment_name = measured_segments.segment_name
    where
        membership.as_of_date <= {{ as_of_date() }}
        and (membership.is_exported or membership.suppression = 'holdout')
),

-- Entered: in the test tonight, not the night before.
entries as (
    select
        tested.segment_name,
        tested.customer_id,
        tested.as_of_date as entry_date,
        tested.arm
    from tested
    inner join night_before
        on tested.as_of_date = night_before.as_of_date
    left join tested as tested_before
        on
            tested.segment_name = tested_before.segment_name
            and tested.customer_id = tested_before.customer_id
            and night_before.previous_night = tested_before.as_of_date
    where tested_before.customer_id is null
),

paid_orders as (
    select
        customer_id,
        paid_on,
        net_paid_amount_cny
    from {{ ref('fct_orders') }}
    where is_net_paid and paid_on <= {{ as_of_date() }}
),

outcomes as (
    select
        entries.segment_name,
        entries.customer_id,
        entries.entry_date,
        entries.arm,
        count(paid_orders.paid_on) > 0 as converted,
        cast(coalesce(sum(paid_orders.net_paid_amount_cny), 0) as double) as spend_cny
    from entries
    left join paid_orders
        on
            entries.customer_id = paid_orders.customer_id
            and entries.entry_date < paid_orders.paid_on
            and {{ add_days('entries.entry_date', window_days) }} >= paid_orders.paid_on
    group by
        entries.segment_name,
        entries.customer_id,
        entries.entry_date,
        entries.arm
),

arms as (
    select
        segment_name,
        entry_date,
        sum(case when arm = 'treated' then 1 else 0 end) as treated_customers,
        sum(case when arm = 'treated' and converted then 1 else 0 end) as treated_converted,
        avg(case when arm = 'treated' then spend_cny end) as treated_spend_mean,
        var_samp(case when arm = 'treated' then spend_cny end) as treated_spend_var,
        sum(case when arm = 'holdout' then 1 else 0 end) as holdout_customers,
        sum(case when arm = 'holdout' and converted then 1 else 0 end) as holdout_converted,
        avg(case when arm = 'holdout' then spend_cny end) as holdout_spend_mean,
        var_samp(case when arm = 'holdout' then spend_cny end) as holdout_spend_var
    from outcomes
    group by segment_name, entry_date
),

rates as (
    select
        *,
        cast(treated_converted as double) / nullif(treated_customers, 0) as treated_rate,
        cast(holdout_converted as double) / nullif(holdout_customers, 0) as holdout_rate
    from arms
),

intervals as (
    select
        *,
        {{ wilson_bound('treated_converted', 'treated_customers', 'low') }} as treated_rate_low,
        {{ wilson_bound('treated_converted', 'treated_customers', 'high') }} as treated_rate_high,
        {{ wilson_bound('holdout_converted', 'holdout_customers', 'low') }} as holdout_rate_low,
        {{ wilson_bound('holdout_converted', 'holdout_customers', 'high') }} as holdout_rate_high,
        -- Squared standard errors of the two means; null for an arm of one (no variance).
        treated_spend_var / treated_customers as treated_spend_mean_var,
        holdout_spend_var / holdout_customers as holdout_spend_mean_var
    from rates
),

differences as (
    select
        *,
        treated_rate - holdout_rate as conversion_lift,
        {{ newcombe_bound('low') }} as conversion_lift_low,
        {{ newcombe_bound('high') }} as conversion_lift_high,
        treated_spend_mean - holdout_spend_mean as spend_lift_cny,
        sqrt(treated_spend_mean_var + holdout_spend_mean_var) as spend_lift_se,
        -- Welch-Satterthwaite; null when neither arm's spend varies (no interval to draw).
        power(treated_spend_mean_var + holdout_spend_mean_var, 2) / nullif(
            power(treated_spend_mean_var, 2) / (treated_customers - 1)
            + power(holdout_spend_mean_var, 2) / (holdout_customers - 1),
            0
        ) as spend_lift_df
    from intervals
),

final as (
    select
        segment_name,
        entry_date,
        {{ window_days }} as window_days,
        {{ add_days('entry_date', window_days) }} <= {{ as_of_date() }} as is_window_complete,
        {{ min_arm_customers }} as min_arm_customers,
        least(treated_customers, holdout_customers) < {{ min_arm_customers }} as too_few_to_tell,
        treated_customers,
        treated_converted,
        round(treated_rate, 4) as treated_conversion_rate,
        round(treated_rate_low, 4) as treated_conversion_ci_low,
        round(treated_rate_high, 4) as treated_conversion_ci_high,
        holdout_customers,
        holdout_converted,
        round(holdout_rate, 4) as holdout_conversion_rate,
        round(holdout_rate_low, 4) as holdout_conversion_ci_low,
        round(holdout_rate_high, 4) as holdout_conversion_ci_high,
        round(conversion_lift, 4) as conversion_lift,
        round(conversion_lift_low, 4) as conversion_lift_ci_low,
        round(conversion_lift_high, 4) as conversion_lift_ci_high,
        round(treated_spend_mean, 2) as treated_spend_per_customer_cny,
        round(holdout_spend_mean, 2) as holdout_spend_per_customer_cny,
        round(spend_lift_cny, 2) as spend_lift_cny,
        round(spend_lift_df, 2) as spend_lift_df,
        round(
            spend_lift_cny - {{ t_quantile_975('spend_lift_df') }} * spend_lift_se, 2
        ) as spend_lift_ci_low_cny,
        round(
            spend_lift_cny + {{ t_quantile_975('spend_lift_df') }} * spend_lift_se, 2
        ) as spend_lift_ci_high_cny,
        {{ as_of_date() }} as as_of_date
    from differences
)

select * from final
