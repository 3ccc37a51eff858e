{#-
    One row per tag with its declaration and, as of the night, its coverage (share of known
    customers with a value), number of distinct values and, for a predictive tag, the status
    of the models behind it. Tags come from dbt's graph.
-#}
{%- set columns = tag_columns(graph_tag_models(include_rules=true)) if execute else [] %}
{%- set no_text = 'cast(null as ' ~ dbt.type_string() ~ ')' %}
{#- A predictive tag's model_status: "bg_nbd: boundary; gamma_gamma: not_fitted". #}
{%- set fitted_models = [] %}
{%- set status_cases = [] %}
{%- for column in columns if column.tag.predicted_by is defined %}
    {%- set parts = [] %}
    {%- for model in column.tag.predicted_by %}
        {%- do fitted_models.append(model) if model not in fitted_models %}
        {%- do parts.append("'" ~ ('; ' if not loop.first else '') ~ model ~ ": '") %}
        {%- do parts.append('coalesce(model_statuses.' ~ model ~ "__status, 'not run')") %}
    {%- endfor %}
    {%- do status_cases.append("when '" ~ column.name ~ "' then " ~ dbt.concat(parts)) %}
{%- endfor %}
{%- set model_status = 'case declarations.tag_name ' ~ status_cases | join(' ') ~ ' end'
    if status_cases else no_text %}

with

profile as (
    select * from {{ ref('customer_profile') }}
),

unseen_values as (
    select * from {{ ref('tag_unseen_values') }}
),

unseen_by_tag as (
    select
        tag_name,
        {{ sorted_listagg(
            "tag_value || ' (' || cast(customers as " ~ dbt.type_string() ~ ") || ')'",
            "' | '") }} as unseen_values,
        cast(sum(customers) as {{ dbt.type_bigint() }}) as unseen_value_customers
    from unseen_values
    group by tag_name
),

fits as (
    select * from {{ ref('stg_predictive__btyd_model_fits') }}
),

-- Tonight's status of each model behind a predictive tag (meta.tag.predicted_by), in one row.
model_statuses as (
    select
        {%- for model in fitted_models %}
            max(case when model = '{{ model }}' then fit_status end) as {{ model }}__status,
        {%- endfor %}
        count(*) as fits
    from fits
),

-- Every tag's filled and distinct counts in one pass over the profile. (One aggregate per tag,
-- unioned, is a plan too big for Spark's optimizer: docs/spark.md.)
stats as (
    select
        {%- for column in columns %}
            count({{ column.name }}) as {{ column.name }}__filled,
            count(distinct {{ column.name }}) as {{ column.name }}__distinct,
        {%- endfor %}
        count(*) as customers
    from profile
),

declarations as (
    {%- for column in columns %}
        {%- set tag = column.tag %}
        {%- set allowed = tag.allowed_values | join(', ') if tag.allowed_values is defined %}
        {%- set known = tag.known_values | join(', ') if tag.known_values is defined %}
        {%- set tag_source = 'rule' if tag.rule is defined else tag.get('source', 'computed') %}
        {#- Staff tags are WeCom's own already: nothing of theirs is synced as a tag group. #}
        {%- set categorical = tag_source != 'staff'
            and (allowed or known or tag.value_type in ('text', 'boolean')) %}
        select
            '{{ tag.category }}' as tag_category,
            '{{ tag_source }}' as tag_source,
            '{{ column.name }}' as tag_name,
            {{ tag_literal(tag.display_name, 'text') }} as display_name,
            {{ tag_literal(column.description | trim, 'text') }} as description,
            {{ tag_literal((tag.get('description_zh') or column.description) | trim, 'text') }}
                as description_zh,
            '{{ tag.value_type }}' as value_type,
            {{ tag_literal(tag.owner, 'text') }} as tag_owner,
            '{{ column.model }}' as source_model,
            {{ tag_literal(allowed, 'text') if allowed else no_text }} as allowed_values,
            {{ tag_literal(known, 'text') if known else no_text }} as known_values,
            cast({{ tag.get('min_value', 'null') }} as double) as min_value,
            cast({{ tag.get('max_value', 'null') }} as double) as max_value,
            {{ 'true' if categorical else 'false' }} as is_categorical,
            {{ tag_literal(tag.rule, 'text') if tag.rule is defined else no_text }} as rule_text
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

final as (
    select
        declarations.*,
        case
            when stats.customers > 0 then 1.0 * case declarations.tag_name
                {%- for column in columns %}
                    when '{{ column.name }}' then stats.{{ column.name }}__filled
                {%- endfor %}
            end / stats.customers
        end as coverage,
        case declarations.tag_name
            {%- for column in columns %}
                when '{{ column.name }}' then stats.{{ column.name }}__distinct
            {%- endfor %}
        end as distinct_values,
        unseen_by_tag.unseen_values,
        coalesce(unseen_by_tag.unseen_value_customers, 0) as unseen_value_customers,
        {{ model_status }} as model_status,
        {{ as_of_date() }} as as_of_date
    from declarations
    cross join stats
    cross join model_statuses
    left join unseen_by_tag
        on declarations.tag_name = unseen_by_tag.tag_name
)

select * from final
