{#-
    Every night's members of every exported segment (models/segments/ with meta.segment),
    kept by as_of_date; a rebuilt night replaces its own rows only.

    Who is exported is decided here, in this order (docs/segments.md):
    1. cool-down: an exclusive (push) segment the customer was not exported in the night
       before is a new push; within segment_push_cooldown_days of their last push it waits;
    2. priority: of the exclusive segments left, the customer is exported in the one with the
       lowest priority number only (a waiting segment it outranks counts as outranked);
    3. holdout: in that segment (or any non-exclusive one), a stable hash of salt, segment and
       customer puts holdout_share of the members in the control group, not exported.
    Steps 1 and 3's history comes from this table's earlier nights, so nights are built in
    order; a full refresh starts the history again.
-#}
-- depends_on: {{ ref('customer_erasures') }}
{{ kept_per_night(erasures="ref('customer_erasures')") }}
{{ check_segment_registry() }}
{%- set salt = var('segment_holdout_salt') | replace("'", "''") %}

with

segment_members as (
    {%- for segment in registered_segment_models() %}
    select
        '{{ segment }}' as segment_name,
        customer_id,
        reason
    from {{ ref(segment) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as reason
    where false
    {%- endfor %}
),

-- Each segment's settings come from the catalog, the one place they are turned into SQL.
segment_catalog as (
    select * from {{ ref('segment_catalog') }}
),

members as (
    select
        segment_members.segment_name,
        segment_members.customer_id,
        segment_members.reason,
        segment_catalog.segment_priority,
        segment_catalog.is_exclusive,
        {{ hash_bucket(dbt.concat([
            "'" ~ salt ~ "|'", 'segment_members.segment_name', "'|'",
            'segment_members.customer_id'
        ])) }}
        < cast(round(segment_catalog.holdout_share * 10000) as integer) as is_holdout
    from segment_members
    inner join segment_catalog
        on segment_members.segment_name = segment_catalog.segment_name
),

{% if is_incremental() %}
earlier_nights as (
    select * from {{ this }}
    where as_of_date < {{ as_of_date() }}
),

previous_exports as (
    select
        segment_name,
        customer_id
    from earlier_nights
    where
        is_exported
        and as_of_date = (select max(as_of_date) from earlier_nights)
),

recent_pushes as (
    select
        customer_id,
        max(as_of_date) as last_pushed_on
    from earlier_nights
    where
        is_pushed
        and as_of_date >= {{ add_days(as_of_date(), -var('segment_push_cooldown_days')) }}
    group by customer_id
),
{% else %}
previous_exports as (
    select
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as {{ dbt.type_string() }}) as customer_id
    where false
),

recent_pushes as (
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as date) as last_pushed_on
    where false
),
{% endif %}

flagged as (
    select
        members.*,
        previous_exports.customer_id is null as is_new_tonight,
        recent_pushes.last_pushed_on,
        members.is_exclusive
        and previous_exports.customer_id is null
        and recent_pushes.last_pushed_on is not null as is_cooling_down
    from members
    left join previous_exports
        on
            members.segment_name = previous_exports.segment_name
            and members.customer_id = previous_exports.customer_id
    left join recent_pushes
        on members.customer_id = recent_pushes.customer_id
),

-- Exclusive memberships not waiting out a cool-down compete; the first by priority wins.
ranked as (
    select
        *,
        is_exclusive and not is_cooling_down as is_competing,
        row_number() over (
            partition by customer_id, is_exclusive and not is_cooling_down
            order by segment_priority asc, segment_name asc
        ) as priority_rank
    from flagged
),

winners as (
    select
        customer_id,
        segment_name as winning_segment,
        segment_priority as winning_priority
    from ranked
    where is_competing and priority_rank = 1
),

-- A membership the winner outranks is suppressed for priority, even if it was also waiting
-- out a cool-down: the customer gets the winner's push either way.
decided as (
    select
        ranked.*,
        winners.winning_segment,
        case
            when
                ranked.is_exclusive
                and ranked.segment_name != winners.winning_segment
                and (ranked.is_competing or winners.winning_priority < ranked.segment_priority)
                then 'priority'
            when ranked.is_cooling_down then 'cooldown'
            when ranked.is_holdout then 'holdout'
        end as suppression
    from ranked
    left join winners
        on ranked.customer_id = winners.customer_id
),

final as (
    select
        segment_name,
        customer_id,
        reason,
        segment_priority,
        is_exclusive,
        is_holdout,
        suppression is null as is_exported,
        suppression is null and is_exclusive and is_new_tonight as is_pushed,
        suppression,
        case when suppression = 'priority' then winning_segment end as outranked_by,
        case when suppression = 'cooldown' then last_pushed_on end as last_pushed_on,
        {{ as_of_date() }} as as_of_date
    from decided
)

select * from final
