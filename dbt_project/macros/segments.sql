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

{#- Stops a build whose segment registry is older than the graph (see macros/tags.sql). -#}
{% macro check_segment_registry() -%}
    {%- if execute -%}
        {%- set in_graph = [] -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.fqn[1] == 'segments'
            and (node.config.meta or {}).get('segment') -%}
            {%- do in_graph.append(node.name) -%}
        {%- endfor -%}
        {%- if in_graph | sort != registered_segment_models() | list | sort -%}
            {{ exceptions.raise_compiler_error(
                "The segment models changed since the registry was written (graph: "
                ~ in_graph | sort | join(', ') ~ "; registry: "
                ~ registered_segment_models() | join(', ')
                ~ "). Run `scrm prepare` (make setup runs it) and build again.") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
