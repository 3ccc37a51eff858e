{#-
    Rules shared by the customer value marts (RFM, lifecycle, repurchase). Each rule lives
    here once; docs/customer_value.md explains them in words.
-#}

{#- Whole days from `earlier` to `later` (both dates). -#}
{% macro days_between(earlier, later) -%}
    {{ dbt.datediff(earlier, later, 'day') | trim }}
{%- endmacro %}

{#- A date `days` after `day` (negative for before), as a date on every engine. -#}
{% macro add_days(day, days) -%}
    cast({{ dbt.dateadd('day', days, day) }} as date)
{%- endmacro %}

{#-
    An RFM score from 1 to 5.
    quantile: 1 + ⌊5 × the share of the other scored customers whose value is worse⌋ (the
    percent rank), capped at 5: equal values share a score and the worst value scores 1.
    thresholds: the fixed bounds in var rfm_thresholds.
-#}
{% macro rfm_score(column, threshold_key, higher_is_better) -%}
    {%- if var('rfm_scoring') == 'quantile' -%}
        cast(least(5, 1 + floor(5 * percent_rank() over (
            order by {{ column }} {{ 'asc' if higher_is_better else 'desc' }}
        ))) as integer)
    {%- elif var('rfm_scoring') == 'thresholds' -%}
        {%- set bounds = var('rfm_thresholds')[threshold_key] -%}
        {%- if bounds | length != 4 -%}
            {{ exceptions.raise_compiler_error(
                "var rfm_thresholds." ~ threshold_key ~ " needs 4 bounds, got " ~ bounds) }}
        {%- endif -%}
        {%- if higher_is_better -%}
            (1
            {%- for bound in bounds %} + case when {{ column }} >= {{ bound }} then 1 else 0 end
            {%- endfor %})
        {%- else -%}
            (5
            {%- for bound in bounds %} - case when {{ column }} > {{ bound }} then 1 else 0 end
            {%- endfor %})
        {%- endif -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var rfm_scoring must be 'quantile' or 'thresholds', got '" ~ var('rfm_scoring') ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#-
    The lifecycle stage on `on_date`, first matching rule wins:
      lost_friend  had a WeCom friendship and has none now;
      prospect     no purchase yet;
      new          first purchase within the last lifecycle_new_days days;
      reactivated  bought within the last lifecycle_churn_days days after a gap longer than that;
      active       bought within the last lifecycle_churn_days days;
      silent       no purchase for lifecycle_churn_days days or more, still a friend;
      churned      no purchase for lifecycle_churn_days days or more, not a friend.
-#}
{% macro lifecycle_stage(
    on_date,
    first_purchase_on,
    last_purchase_on,
    previous_purchase_on,
    friendships_started,
    current_friendships
) -%}
    case
        when {{ friendships_started }} > 0 and {{ current_friendships }} = 0 then 'lost_friend'
        when {{ last_purchase_on }} is null then 'prospect'
        when {{ days_between(first_purchase_on, on_date) }} < {{ var('lifecycle_new_days') }}
            then 'new'
        when
            {{ days_between(last_purchase_on, on_date) }} < {{ var('lifecycle_churn_days') }}
            and {{ days_between(previous_purchase_on, last_purchase_on) }}
            > {{ var('lifecycle_churn_days') }}
            then 'reactivated'
        when {{ days_between(last_purchase_on, on_date) }} < {{ var('lifecycle_churn_days') }}
            then 'active'
        when {{ current_friendships }} > 0 then 'silent'
        else 'churned'
    end
{%- endmacro %}

{#- The days on which a customer's lifecycle stage can change (customer_lifecycle_history):
    first seen, a friend event, a purchase, the end of the "new" span after the first purchase,
    the end of the active span after any purchase. `customers` has `first_seen_on`,
    `friend_events` an `event_on` per event, `purchase_days` `purchase_on` and
    `purchase_day_number`; all have `customer_id`. -#}
{% macro lifecycle_candidate_days(customers, friend_events, purchase_days) %}
    select
        customer_id,
        first_seen_on as on_date
    from {{ customers }}
    where first_seen_on is not null
    union
    select
        customer_id,
        event_on as on_date
    from {{ friend_events }}
    union
    select
        customer_id,
        purchase_on as on_date
    from {{ purchase_days }}
    union
    select
        customer_id,
        {{ add_days('purchase_on', var('lifecycle_new_days')) }} as on_date
    from {{ purchase_days }}
    where purchase_day_number = 1
    union
    select
        customer_id,
        {{ add_days('purchase_on', var('lifecycle_churn_days')) }} as on_date
    from {{ purchase_days }}
{% endmacro %}

{#- Days from the as-of date to a product's expected run-out date (customer_product_repurchase;
    negative once run out). -#}
{% macro days_to_run_out(expected_run_out_on) -%}
    {{ days_between(as_of_date(), expected_run_out_on) }}
{%- endmacro %}

{#- Whether a product is due for repurchase as of the date: within the window around its
    run-out date, and no newer purchase in its category. -#}
{% macro is_repurchase_due(expected_run_out_on, has_newer_category_purchase) -%}
    (
        not {{ has_newer_category_purchase }}
        and {{ days_to_run_out(expected_run_out_on) }}
        between -{{ var('repurchase_due_days_after') }}
        and {{ var('repurchase_due_days_before') }}
    )
{%- endmacro %}
