{#-
    One row per staff member of staff_metrics_daily: the measures that do not add up over
    days, taken over the last staff_window_days days up to the as-of date (the night and the
    N - 1 days before it). A median of daily medians is no median of the window, nor is a sum
    of daily distinct customers a count of them.
-#}
{%- set window_days = var('staff_window_days') %}
{%- set window_from = add_days(as_of_date(), 1 - window_days) %}

with

staff as (
    select distinct staff_id from {{ ref('staff_metrics_daily') }}
),

chats as (
    select * from {{ ref('fct_interactions') }}
    where
        staff_id is not null
        and interaction_type in ('chat_in', 'chat_out')
        and interacted_on >= {{ window_from }}
),

chatted as (
    select
        staff_id,
        count(distinct customer_id) as customers_chatted
    from chats
    group by staff_id
),

responses as (
    select
        staff_id,
        count(*) as responses_measured,
        percentile_cont(0.5) within group (order by response_seconds)
            as median_first_response_seconds
    from {{ ref('staff_first_responses') }}
    where waited_from_on >= {{ window_from }}
    group by staff_id
),

final as (
    select
        staff.staff_id,
        {{ window_days }} as window_days,
        {{ window_from }} as window_from_on,
        coalesce(chatted.customers_chatted, 0) as customers_chatted,
        coalesce(responses.responses_measured, 0) as responses_measured,
        responses.median_first_response_seconds,
        {{ as_of_date() }} as as_of_date
    from staff
    left join chatted on staff.staff_id = chatted.staff_id
    left join responses on staff.staff_id = responses.staff_id
)

select * from final
