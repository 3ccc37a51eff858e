{#-
    Every first response of a staff member to a customer, as of the night: a chat_in opens a
    wait when the chat before it between the same customer and staff member is not a chat_in
    (the first message of a run of messages), and the wait ends at the next chat_out between
    them. staff_metrics_daily takes each day's median from here, staff_metrics_window the
    window's.
-#}

with

chats as (
    select * from {{ ref('fct_interactions') }}
    where
        staff_id is not null
        and interaction_type in ('chat_in', 'chat_out')
),

sequenced_chats as (
    select
        interaction_id,
        staff_id,
        customer_id,
        interaction_type,
        interacted_at,
        interacted_on,
        lag(interaction_type) over (
            partition by staff_id, customer_id
            order by interacted_at, interaction_id
        ) as previous_interaction_type,
        min(case when interaction_type = 'chat_out' then interacted_at end) over (
            partition by staff_id, customer_id
            order by interacted_at, interaction_id
            rows between 1 following and unbounded following
        ) as replied_at
    from chats
),

final as (
    select
        interaction_id,
        staff_id,
        customer_id,
        interacted_at as waited_from_at,
        interacted_on as waited_from_on,
        replied_at,
        -- The engine's spelling of a difference in seconds is a long line.
        {{ dbt.datediff('interacted_at', 'replied_at', 'second') }} -- noqa: LT05
            as response_seconds,
        {{ as_of_date() }} as as_of_date
    from sequenced_chats
    where
        interaction_type = 'chat_in'
        and coalesce(previous_interaction_type, 'none') <> 'chat_in'
        and replied_at is not null
)

select * from final
