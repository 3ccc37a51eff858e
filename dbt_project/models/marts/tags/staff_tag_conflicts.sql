-- Staff tags that contradict a computed tag of the same customer (staff say 宝妈, the survey
-- says 学生), as seed staff_tag_contradictions pairs them. Listed for a person to settle;
-- neither side wins here.

with

staff_tags as (
    select * from {{ ref('customer_staff_tags') }}
),

computed_tags as (
    select * from {{ ref('customer_tags') }}
),

contradictions as (
    select * from {{ ref('staff_tag_contradictions') }}
),

final as (
    select
        staff_tags.customer_id,
        staff_tags.tag_group as staff_tag_group,
        staff_tags.tag_name as staff_tag_name,
        staff_tags.set_by_staff_id,
        staff_tags.set_on,
        computed_tags.tag_name as computed_tag,
        computed_tags.tag_value as computed_value,
        contradictions.conflict,
        {{ as_of_date() }} as as_of_date
    from staff_tags
    inner join contradictions
        on staff_tags.tag_name = contradictions.staff_tag_name
    inner join computed_tags
        on
            staff_tags.customer_id = computed_tags.customer_id
            and contradictions.computed_tag = computed_tags.tag_name
            and contradictions.computed_value = computed_tags.tag_value
)

select * from final
