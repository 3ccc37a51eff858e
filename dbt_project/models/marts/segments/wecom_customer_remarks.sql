-- The short "external tag" remark a WeCom tag sync writes per customer: value tier symbol,
-- identity and interaction level, e.g. ★★★|宝妈|互动3. WeChat remarks are short: at most 20
-- characters, enforced by the publisher too.
with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        {{ dbt.concat([
            "case customer_value_tier when 'vip' then '★★★' when 'high' then '★★'"
            ~ " when 'medium' then '★' else '' end",
            "'|'",
            "coalesce(identity, '')",
            "'|互动'",
            dbt.cast('interaction_level', dbt.type_string()),
        ]) }} as remark
    from profile
)

select * from final
