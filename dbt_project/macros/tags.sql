{#-
    The tag system reads what a tag is from dbt's graph: a tag is a model column under
    models/tags/ whose config.meta.tag block declares it (docs/tags.md). Nothing here lists
    tags by hand.
-#}

{#- The categories, in display order: var tag_categories (dbt_project.yml). -#}
{% macro tag_categories() -%}
    {{ return(var('tag_categories')) }}
{%- endmacro %}

{#-
    Where a tag's values come from (meta.tag.source): computed by our SQL (the default), or
    entered by staff in WeCom (docs/staff-tags.md). A rule tag is computed too; the catalog
    calls it a rule.
-#}
{% macro tag_sources() -%}
    {{ return(['computed', 'staff']) }}
{%- endmacro %}

{#- A column's tag declaration (config.meta.tag, or meta.tag), or none. -#}
{% macro tag_metadata(column) -%}
    {%- set config_meta = (column.config or {}).get('meta') or {} -%}
    {%- set meta = column.meta or {} -%}
    {{ return(config_meta.get('tag') or meta.get('tag') or none) }}
{%- endmacro %}

{#- A value from a tag declaration as a SQL literal of the tag's type. -#}
{% macro tag_literal(value, value_type) -%}
    {%- if value_type == 'text' -%}
        {{ return("'" ~ (value | string | replace("'", "''")) ~ "'") }}
    {%- elif value_type == 'boolean' -%}
        {{ return('true' if value else 'false') }}
    {%- elif value_type == 'date' -%}
        {{ return("cast('" ~ value ~ "' as date)") }}
    {%- else -%}
        {{ return(value | string) }}
    {%- endif -%}
{%- endmacro %}

{#-
    The tag models in the graph: models under models/tags/ with at least one tag column,
    ordered by category folder then name. Only meaningful when `execute` is true.
-#}
{% macro graph_tag_models(include_rules=false) -%}
    {%- set found = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.fqn[1] == 'tags' -%}
        {%- set is_rules = node.fqn[2] == 'rules' -%}
        {%- if include_rules or not is_rules -%}
            {%- set ns = namespace(has_tags=false) -%}
            {%- for column in node.columns.values() if tag_metadata(column) -%}
                {%- set ns.has_tags = true -%}
            {%- endfor -%}
            {%- if ns.has_tags -%}
                {%- do found.append(node) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found | sort(attribute='fqn')) }}
{%- endmacro %}

{#-
    Every tag column of the given models: dicts of model, name, description and the tag
    declaration, in category order, then model and column order.
-#}
{% macro tag_columns(models) -%}
    {%- set columns = [] -%}
    {%- for category in tag_categories() -%}
        {%- for node in models -%}
            {%- for column in node.columns.values() -%}
                {%- set tag = tag_metadata(column) -%}
                {%- if tag and tag.category == category -%}
                    {%- do columns.append({
                        'model': node.name,
                        'name': column.name,
                        'description': column.description or '',
                        'tag': tag,
                    }) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#-
    dbt needs a model's refs when it parses, before the graph exists, so the models that
    assemble tags ref the tag models through registered_tag_models(), which `scrm prepare`
    writes from the parsed graph. This check stops a run whose registry is out of date.
-#}
{% macro check_tag_registry() -%}
    {%- if execute -%}
        {%- do assert_registry_current(
            'tag', graph_tag_models() | map(attribute='name'), registered_tag_models()) -%}
        {%- for node in graph_tag_models(include_rules=true) -%}
            {%- for column in node.columns.values() if tag_metadata(column) -%}
                {%- do validate_tag_declaration(node, column, tag_metadata(column)) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- Stops a build whose generated registry of `kind` models is older than the graph. -#}
{% macro assert_registry_current(kind, in_graph, registered) -%}
    {%- set in_graph = in_graph | list | sort -%}
    {%- set registered = registered | list | sort -%}
    {%- if in_graph != registered -%}
        {{ exceptions.raise_compiler_error(
            "The " ~ kind ~ " models changed since the registry was written (graph: "
            ~ in_graph | join(', ') ~ "; registry: " ~ registered | join(', ')
            ~ "). Run `scrm prepare` (make setup runs it) and build again.") }}
    {%- endif -%}
{%- endmacro %}

{#- Stops the build on a tag declaration that the assembly could not use. -#}
{% macro validate_tag_declaration(node, column, tag) -%}
    {%- set where = "Tag " ~ node.name ~ "." ~ column.name ~ " (" ~ node.original_file_path ~ "): " -%}
    {%- for key in ['category', 'display_name', 'value_type', 'owner'] if not tag.get(key) -%}
        {{ exceptions.raise_compiler_error(where ~ "meta.tag needs '" ~ key ~ "'") }}
    {%- endfor -%}
    {%- if tag.category not in tag_categories() -%}
        {{ exceptions.raise_compiler_error(
            where ~ "category '" ~ tag.category ~ "' is not one of " ~ tag_categories() | join(', ')) }}
    {%- endif -%}
    {%- if tag.value_type not in var('tag_value_types') -%}
        {{ exceptions.raise_compiler_error(
            where ~ "value_type '" ~ tag.value_type ~ "' is not one of " ~ var('tag_value_types') | join(', ')) }}
    {%- endif -%}
    {%- if tag.source is defined and tag.source not in tag_sources() -%}
        {{ exceptions.raise_compiler_error(
            where ~ "source '" ~ tag.source ~ "' is not one of " ~ tag_sources() | join(', ')) }}
    {%- endif -%}
    {%- if not column.description -%}
        {{ exceptions.raise_compiler_error(where ~ "needs a description") }}
    {%- endif -%}
    {%- if tag.known_values is defined and tag.allowed_values is defined -%}
        {{ exceptions.raise_compiler_error(where ~ "declares both allowed_values (values our SQL "
            ~ "computes: any other fails the night) and known_values (the brand's own words: "
            ~ "others are kept and reported); choose one") }}
    {%- endif -%}
    {%- if tag.known_values is defined and tag.value_type != 'text' -%}
        {{ exceptions.raise_compiler_error(where ~ "known_values needs value_type text") }}
    {%- endif -%}
{%- endmacro %}

{#-
    The tags whose values come from the brand's own words (a channel, a member level): their
    declaration lists known_values, and a value outside them is kept and reported in
    tag_unseen_values, never a failed night. Dicts as tag_columns() returns them.
-#}
{% macro open_vocabulary_tag_columns() -%}
    {%- set found = [] -%}
    {%- for column in tag_columns(graph_tag_models(include_rules=true)) -%}
        {%- if column.tag.known_values is defined -%}
            {%- do found.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}
