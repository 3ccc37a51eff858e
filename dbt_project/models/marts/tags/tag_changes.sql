{#-
    What changed in each customer's tags since the previous night kept in
    customer_profile_history: one row per customer and tag whose value appeared, disappeared or
    changed, the values as text (as in customer_tags). The first night kept records no changes.
    The nights are compared wide, a row per customer, and only the customers with a changed
    tag are unfolded into one row per tag: at a million customers that joins two nights of a
    million rows each, where comparing the long form joined two nights of 47 million.
-#}
-- depends_on: {{ ref('customer_erasures') }}
{{ kept_per_night(erasures="ref('customer_erasures')") }}
{{ plan_wide_comparison() }}
{%- set columns = tag_columns(graph_tag_models(include_rules=true)) if execute else [] %}

with

-- Inlined: read three times, the history (every night kept) would otherwise be copied whole
-- first, where each reader needs one night.
history as {{ inlined_cte() }} (
    select * from {{ ref('customer_profile_history') }}
),

previous_night as (
    select max(as_of_date) as previous_as_of_date
    from history
    where as_of_date < {{ as_of_date() }}
),

-- Nothing to compare on the first night kept: no night, no changes.
tonight as (
    select history.*
    from history
    cross join previous_night
    where
        history.as_of_date = {{ as_of_date() }}
        and previous_night.previous_as_of_date is not null
),

before as (
    select history.*
    from history
    inner join previous_night
        on history.as_of_date = previous_night.previous_as_of_date
),

-- The customers with a tag whose value differs from the night before (a customer known on
-- one night only: all of their tags), with every tag's value on both nights as text.
changed_customers as (
    select
        {%- for column in columns %}
        cast(before.{{ column.name }} as {{ dbt.type_string() }}) as before__{{ column.name }},
        cast(tonight.{{ column.name }} as {{ dbt.type_string() }}) as tonight__{{ column.name }},
        {%- endfor %}
        coalesce(tonight.customer_id, before.customer_id) as customer_id
    from tonight
    full outer join before
        on tonight.customer_id = before.customer_id
    where
        tonight.customer_id is null
        or before.customer_id is null
        {%- for column in columns %}
        or tonight.{{ column.name }} is distinct from before.{{ column.name }}
        {%- endfor %}
),

tags as (
    {%- for column in columns %}
    select
        '{{ column.tag.category }}' as tag_category,
        '{{ column.name }}' as tag_name
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as tag_category,
        cast(null as {{ dbt.type_string() }}) as tag_name
    from previous_night
    where false
    {%- endfor %}
),

-- One row per changed customer and tag: a cross join and a case, not a union of one query
-- per tag, so that the plan stays one join on every engine.
unfolded as (
    select
        changed_customers.customer_id,
        tags.tag_category,
        tags.tag_name,
        {%- for side in ['before', 'tonight'] %}
        case tags.tag_name
            {%- for column in columns %}
            when '{{ column.name }}' then changed_customers.{{ side }}__{{ column.name }}
            {%- endfor %}
            else cast(null as {{ dbt.type_string() }})
        end as {{ 'old_value' if side == 'before' else 'new_value' }}
        {{- ',' if side == 'before' }}
        {%- endfor %}
    from changed_customers
    cross join tags
),

final as (
    select
        unfolded.customer_id,
        unfolded.tag_category,
        unfolded.tag_name,
        unfolded.old_value,
        unfolded.new_value,
        previous_night.previous_as_of_date,
        {{ as_of_date() }} as as_of_date
    from unfolded
    cross join previous_night
    where unfolded.old_value is distinct from unfolded.new_value
)

select * from final
