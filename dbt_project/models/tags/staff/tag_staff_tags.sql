-- Staff-entered tags (个人标签 / 企业标签): the tags staff set by hand in WeCom that the
-- customer carries tonight, one column per tag group of the library, each a list of tag names
-- in order, joined by '|' as the WeCom sync files join tags; null when none. Groups without
-- a column of their own are listed together as 'group/tag' in staff_other_tags.
-- An analyst gives a tag group its column here and declares it in the YAML beside.
{%- set group_columns = {
    '客户身份': 'staff_identity_tags',
    '兴趣偏好': 'staff_interest_tags',
    '活动意向': 'staff_intent_tags',
    '服务记录': 'staff_service_tags',
} %}
{%- set own_groups = [] %}
{%- for tag_group in group_columns %}
    {%- do own_groups.append(tag_literal(tag_group, 'text')) %}
{%- endfor %}

with

customers as (
    select * from {{ ref('dim_customers') }}
),

staff_tags as (
    select * from {{ ref('customer_staff_tags') }}
),

-- The latest tag set on the customer, and by whom (ties by staff id).
latest_set as (
    select
        customer_id,
        set_on,
        set_by_staff_id,
        row_number() over (
            partition by customer_id
            order by set_at desc, set_by_staff_id asc, tag_group asc, tag_name asc
        ) as recency_rank
    from staff_tags
),

lists as (
    select
        customer_id,
        {%- for tag_group, column_name in group_columns.items() %}
            {{ sorted_listagg(
                "case when tag_group = " ~ tag_literal(tag_group, 'text')
                ~ " then tag_name end", "'|'") }} as {{ column_name }},
        {%- endfor %}
        {{ sorted_listagg(
            "case when tag_group not in (" ~ own_groups | join(', ') ~ ") then "
            ~ dbt.concat(['tag_group', "'/'", 'tag_name']) ~ " end", "'|'") }}
            as staff_other_tags,
        count(*) as staff_tag_count
    from staff_tags
    group by customer_id
),

final as (
    select
        customers.customer_id,
        {%- for column_name in group_columns.values() %}
            nullif(lists.{{ column_name }}, '') as {{ column_name }},
        {%- endfor %}
        nullif(lists.staff_other_tags, '') as staff_other_tags,
        cast(coalesce(lists.staff_tag_count, 0) as integer) as staff_tag_count,
        latest_set.set_on as staff_tags_last_set_on,
        latest_set.set_by_staff_id as staff_tags_last_set_by
    from customers
    left join lists
        on customers.customer_id = lists.customer_id
    left join latest_set
        on
            customers.customer_id = latest_set.customer_id
            and latest_set.recency_rank = 1
)

select * from final
