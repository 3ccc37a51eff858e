with

-- At most one exported push per customer a night (segment_membership decides which).
pushes as (
    select * from {{ ref('segment_membership') }}
    where
        as_of_date = {{ as_of_date() }}
        and is_exclusive
        and is_exported
),

actions as (
    select * from {{ ref('next_best_actions') }}
),

-- What an action promises, from the column its segment names in meta.segment.action_detail:
-- the topic of the content to send, the mask to buy again, the category to offer.
action_details as (
    {%- for name, declared in registered_segment_declarations().items()
        if declared.get('action_detail') %}
    select
        '{{ name }}' as segment_name,
        customer_id,
        cast({{ declared.action_detail }} as {{ dbt.type_string() }}) as action_detail
    from {{ ref(name) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as action_detail
    where false
    {%- endfor %}
),

final as (
    select
        pushes.customer_id,
        actions.action,
        pushes.segment_priority as priority,
        pushes.segment_name,
        actions.reason,
        action_details.action_detail,
        pushes.reason as membership_reason,
        {{ as_of_date() }} as as_of_date
    from pushes
    inner join actions
        on pushes.segment_name = actions.segment_name
    left join action_details
        on
            pushes.segment_name = action_details.segment_name
            and pushes.customer_id = action_details.customer_id
)

select * from final
