{#-
    The promise that every raw row is accounted for: per source, raw rows = clean rows +
    quarantined rows + exact duplicates + superseded versions + erased rows (the rows of customers
    erased on request, and the erasure requests themselves). The validated models keep one row per raw row (their
    row_count_matches tests compare them with the raw tables), so counting them counts the file.
-#}
{%- set validated_models = {
    'customers': ref('stg_raw__customers'),
    'products': ref('stg_raw__products'),
    'orders': ref('int_orders_validated'),
    'order_items': ref('int_order_items_validated'),
    'friend_events': ref('int_friend_events_validated'),
    'interactions': ref('int_interactions_validated'),
    'identity_links': ref('int_identity_links_validated'),
    'groups': ref('stg_raw__groups'),
    'group_members': ref('int_group_members_validated'),
    'tag_library': ref('stg_raw__tag_library'),
    'staff_tags': ref('int_staff_tags_validated'),
} -%}

with

{% for source_name, validated in validated_models.items() %}
    {{ source_name }}_counts as (
        select
            '{{ source_name }}' as source_name,
            count(*) as raw_rows,
            count(case when {{ is_clean_row() }} then 1 end) as clean_rows,
            count(case when quarantine_reason is not null then 1 end) as quarantined_rows,
            count(case when is_exact_duplicate then 1 end) as duplicate_rows,
            count(case when is_superseded then 1 end) as superseded_rows,
            count(case when is_erased then 1 end) as erased_rows
        from {{ validated }}
    ),

{% endfor %}

counted as (
    {% for source_name in validated_models %}
        select
            source_name,
            raw_rows,
            coalesce(clean_rows, 0) as clean_rows,
            coalesce(quarantined_rows, 0) as quarantined_rows,
            coalesce(duplicate_rows, 0) as duplicate_rows,
            coalesce(superseded_rows, 0) as superseded_rows,
            coalesce(erased_rows, 0) as erased_rows
        from {{ source_name }}_counts
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        source_name,
        raw_rows,
        clean_rows,
        quarantined_rows,
        duplicate_rows,
        superseded_rows,
        erased_rows,
        raw_rows = clean_rows + quarantined_rows + duplicate_rows + superseded_rows + erased_rows
            as is_balanced
    from counted
)

select * from final
