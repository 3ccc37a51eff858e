-- The short "external tag" remark a WeCom tag sync writes per customer, e.g. ★★★|宝妈|互动3.
-- WeChat cuts a remark it cannot hold, so the parts are fitted here by priority (the YAML says
-- which and why) and a part that does not fit is left out whole, never cut.
{%- set max_chars = var('wecom_limits')['remark_max_chars'] %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

erasures as (
    select * from {{ ref('customer_erasures') }}
),

parts as (
    select
        customer_id,
        case customer_value_tier
            when 'vip' then '★★★'
            when 'high' then '★★'
            when 'medium' then '★'
            else ''
        end as value_tier_part,
        coalesce(
            {{ dbt.concat(["'互动'", dbt.cast('interaction_level', dbt.type_string())]) }},
            ''
        ) as interaction_part,
        coalesce(identity, '') as identity_part
    from profile
),

-- In priority order, a part is kept when it fits beside the parts kept before it. The two
-- '|' always stay, so each part keeps its place for the staff member reading it.
value_tier_fitted as (
    select
        *,
        2 + length(value_tier_part) <= {{ max_chars }} as is_value_tier_kept
    from parts
),

interaction_fitted as (
    select
        *,
        2 + case when is_value_tier_kept then length(value_tier_part) else 0 end
        + length(interaction_part) <= {{ max_chars }} as is_interaction_kept
    from value_tier_fitted
),

identity_fitted as (
    select
        *,
        2 + case when is_value_tier_kept then length(value_tier_part) else 0 end
        + case when is_interaction_kept then length(interaction_part) else 0 end
        + length(identity_part) <= {{ max_chars }} as is_identity_kept
    from interaction_fitted
),

final as (
    select
        customer_id,
        {{ dbt.concat([
            "case when is_value_tier_kept then value_tier_part else '' end",
            "'|'",
            "case when is_identity_kept then identity_part else '' end",
            "'|'",
            "case when is_interaction_kept then interaction_part else '' end",
        ]) }} as remark,
        nullif(
            concat_ws(
                ', ',
                case when not is_value_tier_kept then 'value_tier' end,
                case when not is_interaction_kept then 'interaction_level' end,
                case when not is_identity_kept then 'identity' end
            ),
            ''
        ) as remark_omitted_parts
    from identity_fitted

    union all

    -- A customer erased on request gets an empty remark: the sync clears the one it sent.
    select
        customer_id,
        '' as remark,
        cast(null as {{ dbt.type_string() }}) as remark_omitted_parts
    from erasures
)

select * from final
