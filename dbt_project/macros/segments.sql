{#-
    Stops a build whose segment registry is older than the graph (macros/tags.sql): a segment
    added, removed, or its meta.segment changed. Unit tests have no graph; nothing to check.
-#}
{% macro check_segment_registry() -%}
    {%- if execute and graph.get('nodes') -%}
        {%- set in_graph = [] -%}
        {%- set declared = {} -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.fqn[1] == 'segments'
            and (node.config.meta or {}).get('segment') -%}
            {%- do in_graph.append(node.name) -%}
            {%- do declared.update({node.name: node.config.meta.segment}) -%}
        {%- endfor -%}
        {%- do assert_registry_current('segment', in_graph, registered_segment_models()) -%}
        {%- for name, declaration in declared.items()
            if declaration != registered_segment_declarations().get(name) -%}
            {{ exceptions.raise_compiler_error(
                "meta.segment of " ~ name ~ " changed since the registry was written. "
                ~ "Run `scrm prepare` (make setup runs it) and build again.") }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#-
    A segment's membership criteria, written once in its SQL and used twice: as the filter
    (segment_where) and as the reason every member carries (segment_reason), so the reason
    cannot drift from the definition. Each criterion is a dict:
      column  the name shown in the reason (and the SQL, unless expr is given)
      expr    optional SQL for the value, e.g. "coalesce(member_level, '普通会员')"
      op      one of = != > >= < <= in; no op: shown in the reason, not filtered on
      value   the literal compared with (a list for in)
-#}
{% macro segment_where(criteria) -%}
    {%- set conditions = [] -%}
    {%- for criterion in criteria if criterion.get('op') -%}
        {%- do conditions.append(_segment_condition(criterion)) -%}
    {%- endfor -%}
    {%- if not conditions -%}
        {{ exceptions.raise_compiler_error("segment_where: no criterion with an op in " ~ criteria) }}
    {%- endif -%}
    {{ conditions | join('\n        and ') }}
{%- endmacro %}

{#- "paid_order_count=7 > 5; paid_amount_cny=6120.00 > 5000": value and rule per criterion. -#}
{% macro segment_reason(criteria) -%}
    {%- set parts = [] -%}
    {%- for criterion in criteria -%}
        {%- set shown = "coalesce(cast(" ~ criterion.get('expr', criterion.column)
            ~ " as " ~ dbt.type_string() ~ "), 'null')" -%}
        {%- set op = criterion.get('op') -%}
        {#- After "=" the value shown is the rule; no need to repeat it. -#}
        {%- if not op or op == '=' -%}
            {%- set rule = "" -%}
        {%- elif op == 'in' -%}
            {%- set rule = " in (" ~ (criterion.value | join(', ')) ~ ")" -%}
        {%- else -%}
            {%- set rule = " " ~ op ~ " " ~ criterion.value -%}
        {%- endif -%}
        {%- if not loop.first -%}{%- do parts.append("'; '") -%}{%- endif -%}
        {%- do parts.append("'" ~ criterion.column ~ "='") -%}
        {%- do parts.append(shown) -%}
        {%- if rule -%}{%- do parts.append("'" ~ (rule | replace("'", "''")) ~ "'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}

{#-
    The same criteria as fields, for programs and for the files people open, so that nothing
    reads the reason's text back: a JSON array with an object per criterion, its column, the
    member's value as text (null when missing), its op (null when only shown) and its rule as a
    list of texts (the threshold, the values of in; empty after = or without op), e.g.
    [{"column":"paid_order_count","value":"7","op":">","rule":["5"]}].
-#}
{% macro segment_reason_fields(criteria) -%}
    {{ return(adapter.dispatch('segment_reason_fields', 'scrm')(criteria)) }}
{%- endmacro %}

{% macro default__segment_reason_fields(criteria) -%}
    cast(to_json([
        {%- for criterion in criteria %}
        {
            'column': '{{ criterion.column }}',
            'value': cast({{ criterion.get('expr', criterion.column) }} as varchar),
            'op': {{ _segment_text(criterion.get('op')) }},
            'rule': cast([{{ _segment_rule(criterion) }}] as varchar[])
        }{% if not loop.last %},{% endif %}
        {%- endfor %}
    ]) as varchar)
{%- endmacro %}

{#- Spark's to_json leaves out null fields unless told not to; DuckDB's keeps them. -#}
{% macro spark__segment_reason_fields(criteria) -%}
    to_json(array(
        {%- for criterion in criteria %}
        named_struct(
            'column', '{{ criterion.column }}',
            'value', cast({{ criterion.get('expr', criterion.column) }} as string),
            'op', {{ _segment_text(criterion.get('op')) }},
            'rule', cast(array({{ _segment_rule(criterion) }}) as array<string>)
        ){% if not loop.last %},{% endif %}
        {%- endfor %}
    ), map('ignoreNullFields', 'false'))
{%- endmacro %}

{#- The rule's texts, as literals for a list: none after = or without op, '5', 'vip', 'high'. -#}
{% macro _segment_rule(criterion) -%}
    {%- set op = criterion.get('op') -%}
    {%- if op == 'in' -%}
        {% for value in criterion.value %}{{ _segment_literal(value | string) }}{% if not loop.last %}, {% endif %}{% endfor %}
    {%- elif op and op != '=' -%}
        {{ _segment_literal(criterion.value | string) }}
    {%- endif -%}
{%- endmacro %}

{% macro _segment_condition(criterion) -%}
    {%- set expr = criterion.get('expr', criterion.column) -%}
    {%- set op = criterion.op -%}
    {%- if op == 'in' -%}
        {{ expr }} in ({% for value in criterion.value %}{{ _segment_literal(value) }}{% if not loop.last %}, {% endif %}{% endfor %})
    {%- elif op in ['=', '!=', '>', '>=', '<', '<='] -%}
        {{ expr }} {{ op }} {{ _segment_literal(criterion.value) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("segment criterion " ~ criterion.column ~ ": unknown op '" ~ op ~ "' (use = != > >= < <= in)") }}
    {%- endif -%}
{%- endmacro %}

{% macro _segment_text(value) -%}
    {%- if value is none -%}cast(null as {{ dbt.type_string() }})
    {%- else -%}{{ _segment_literal(value | string) }}
    {%- endif -%}
{%- endmacro %}

{% macro _segment_literal(value) -%}
    {%- if value is boolean -%}{{ 'true' if value else 'false' }}
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{#- A stable bucket 0..9999 from text: the first 32 bits of its md5, as on every engine. -#}
{% macro hash_bucket(text_expr) -%}
    {{ return(adapter.dispatch('hash_bucket', 'scrm')(text_expr)) }}
{%- endmacro %}

{% macro default__hash_bucket(text_expr) -%}
    (cast(('0x' || substr({{ dbt.hash(text_expr) }}, 1, 8)) as bigint) % 10000)
{%- endmacro %}

{% macro spark__hash_bucket(text_expr) -%}
    (cast(conv(substr({{ dbt.hash(text_expr) }}, 1, 8), 16, 10) as bigint) % 10000)
{%- endmacro %}
