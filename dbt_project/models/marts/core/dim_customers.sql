{#- The attributes a person takes from their customer ids' rows, each from the first row that
    has it. -#}
{%- set merged_attributes = [
    'gender', 'birth_date', 'province', 'city', 'member_level', 'identity', 'skin_type',
] %}

with

-- Each customer id's attributes as they were on the night.
customers as (
    select * from {{ ref('dim_customer_history') }}
    where is_current
),

-- The person each id is on the night (docs/identity.md): without links, the id itself.
persons as (
    select * from {{ ref('int_identity_persons') }}
),

friend_events as (
    select * from {{ ref('fct_friend_events') }}
),

first_activity as (
    select * from {{ ref('int_customer_first_activity') }}
),

first_friendships as (
    select
        customer_id,
        event_at as first_friend_added_at,
        acquisition_channel_code as first_channel_code,
        staff_id as first_staff_id,
        row_number() over (partition by customer_id order by event_at, event_id) as add_rank
    from friend_events
    where friend_delta = 1
),

-- The state of each friendship (a customer id and a staff member) after its latest event,
-- then summarised per person.
friendship_states as (
    select
        customer_id,
        event_type,
        is_friend_after_event,
        event_at,
        row_number() over (
            partition by source_customer_id, staff_id
            order by event_at desc, event_id desc
        ) as recency_rank
    from friend_events
),

friend_statuses as (
    select
        customer_id,
        count(case when is_friend_after_event then 1 end) as current_friend_staff_count,
        max(case when not is_friend_after_event then event_at end) as last_deleted_at,
        max(case when event_type = 'delete_by_customer' then event_at end)
            as last_deleted_by_customer_at,
        max(case when event_type = 'delete_by_staff' then event_at end)
            as last_deleted_by_staff_at
    from friendship_states
    where recency_rank = 1
    group by customer_id
),

-- The history holds only the customers known on the night (dim_customer_history). A person's
-- rows are ranked: the latest dated version first, then the row of the id that names them.
customer_ids as (
    select
        customers.*,
        coalesce(persons.person_id, customers.customer_id) as person_id,
        first_activity.first_activity_at,
        count(*) over (
            partition by coalesce(persons.person_id, customers.customer_id)
        ) as person_row_count,
        row_number() over (
            partition by coalesce(persons.person_id, customers.customer_id)
            order by
                customers.valid_from desc nulls last,
                case when customers.customer_id = persons.person_id then 0 else 1 end asc,
                customers.customer_id asc
        ) as person_rank
    from customers
    left join persons
        on customers.customer_id = persons.id
    left join first_activity
        on customers.customer_id = first_activity.customer_id
),

-- Most persons are one customer id: their row as it is.
single_id_persons as (
    select
        person_id as customer_id,
        {%- for attribute in merged_attributes %}
            {{ attribute }},
        {%- endfor %}
        registered_at,
        invalid_fields,
        first_activity_at
    from customer_ids
    where person_row_count = 1
),

-- A person of several: each attribute from the first of their rows that has it, the earliest
-- registration and first activity of any, and the first row's invalid fields.
merged_rows as (
    select
        person_id,
        person_rank,
        {%- for attribute in merged_attributes %}
            first_value({{ attribute }}) over (
                partition by person_id
                order by case when {{ attribute }} is null then 1 else 0 end, person_rank
                rows between unbounded preceding and unbounded following
            ) as {{ attribute }},
        {%- endfor %}
        min(registered_at) over (partition by person_id) as registered_at,
        invalid_fields,
        min(first_activity_at) over (partition by person_id) as first_activity_at
    from customer_ids
    where person_row_count > 1
),

known_customers as (
    select * from single_id_persons

    union all

    select
        person_id as customer_id,
        {%- for attribute in merged_attributes %}
            {{ attribute }},
        {%- endfor %}
        registered_at,
        invalid_fields,
        first_activity_at
    from merged_rows
    where person_rank = 1
),

-- Every id of each person: the customer ids the sources know, and the ids only links carry.
person_ids as (
    select
        person_id,
        count(*) as known_id_count,
        {{ sorted_listagg('id', "'|'") }} as known_ids
    from persons
    group by person_id
),

final as (
    select
        known_customers.customer_id,

        -- attributes as recorded
        known_customers.gender,
        known_customers.birth_date,
        known_customers.province,
        known_customers.city,
        known_customers.member_level,
        known_customers.registered_at,
        known_customers.identity,
        known_customers.skin_type,
        known_customers.invalid_fields,

        -- every id of the person (docs/identity.md)
        coalesce(person_ids.known_ids, known_customers.customer_id) as known_ids,
        coalesce(person_ids.known_id_count, 1) as known_id_count,

        -- first contact
        least(known_customers.registered_at, known_customers.first_activity_at)
            as first_seen_at,
        first_friendships.first_friend_added_at,
        first_friendships.first_channel_code,
        first_friendships.first_staff_id,

        -- friendship now
        coalesce(friend_statuses.current_friend_staff_count, 0) as current_friend_staff_count,
        case
            when friend_statuses.current_friend_staff_count > 0 then 'current_friend'
            when friend_statuses.last_deleted_at is null then 'never_friend'
            when friend_statuses.last_deleted_by_customer_at = friend_statuses.last_deleted_at
                then 'deleted_by_customer'
            else 'deleted_by_staff'
        end as friend_status,

        {{ as_of_date() }} as as_of_date
    from known_customers
    left join first_friendships
        on
            known_customers.customer_id = first_friendships.customer_id
            and first_friendships.add_rank = 1
    left join friend_statuses
        on known_customers.customer_id = friend_statuses.customer_id
    left join person_ids
        on known_customers.customer_id = person_ids.person_id
)

select * from final
