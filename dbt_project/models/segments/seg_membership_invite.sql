-- Valuable customers who are not members yet (no level or the entry level): invite them.
with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        customer_value_tier,
        member_level
    from profile
    where
        customer_value_tier in ('vip', 'high')
        and coalesce(member_level, '普通会员') = '普通会员'
)

select * from final
