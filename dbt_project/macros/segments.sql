{#- Current friends of one survey identity, for group building: one segment per identity. -#}
{% macro identity_segment(identity) %}
with

profile as (
    select * from {{ ref('customer_profile') }}
),

final as (
    select
        customer_id,
        first_staff_id,
        lifecycle_stage
    from profile
    where friend_status = 'current_friend' and identity = '{{ identity }}'
)

select * from final
{% endmacro %}

{#- Stops a build whose segment registry is older than the graph (macros/tags.sql). -#}
{% macro check_segment_registry() -%}
    {%- if execute -%}
        {%- set in_graph = [] -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.fqn[1] == 'segments'
            and (node.config.meta or {}).get('segment') -%}
            {%- do in_graph.append(node.name) -%}
        {%- endfor -%}
        {%- do assert_registry_current('segment', in_graph, registered_segment_models()) -%}
    {%- endif -%}
{%- endmacro %}
