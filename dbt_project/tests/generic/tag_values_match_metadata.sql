{#-
    Fails on every tag value outside what its column's meta.tag declares: allowed_values,
    min_value, max_value. Reading the declaration from the graph keeps one source of truth.
    A tag's known_values are not checked here: they are the brand's own words, and a value
    outside them is kept and listed in tag_unseen_values.
-#}
{% test tag_values_match_metadata(model) %}
    {%- set checks = [] -%}
    {%- if execute -%}
        {%- set node = graph.nodes.values()
            | selectattr('resource_type', 'equalto', 'model')
            | selectattr('name', 'equalto', model.identifier)
            | first -%}
        {%- for column_name, column in node.columns.items() -%}
            {%- set tag = tag_metadata(column) -%}
            {%- if tag -%}
                {%- set quoted = adapter.quote(column_name) -%}
                {%- if tag.allowed_values is defined -%}
                    {%- set literals = [] -%}
                    {%- for value in tag.allowed_values -%}
                        {%- do literals.append(tag_literal(value, tag.value_type)) -%}
                    {%- endfor -%}
                    {%- do checks.append((column_name, quoted ~ ' not in (' ~ literals | join(', ') ~ ')')) -%}
                {%- endif -%}
                {%- if tag.min_value is defined -%}
                    {%- do checks.append((column_name, quoted ~ ' < ' ~ tag.min_value)) -%}
                {%- endif -%}
                {%- if tag.max_value is defined -%}
                    {%- do checks.append((column_name, quoted ~ ' > ' ~ tag.max_value)) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif %}

    {% if checks | length == 0 %}
select 'none' as tag, 'none' as tag_value from {{ model }} where false
    {% else %}
        {% for column_name, failing in checks %}
select '{{ column_name }}' as tag, cast({{ adapter.quote(column_name) }} as {{ dbt.type_string() }}) as tag_value
from {{ model }}
where {{ failing }}
            {% if not loop.last %}union all{% endif %}
        {% endfor %}
    {% endif %}
{% endtest %}
