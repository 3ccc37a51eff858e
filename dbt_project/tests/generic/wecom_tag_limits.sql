{#-
    WeCom holds at most wecom_limits.max_tag_groups tag groups of at most
    wecom_limits.max_tags_per_group tags each (dbt_project.yml). Synced as groups, the
    categorical tags of a catalogue must fit: fails on a tag with too many values, and on
    the catalogue when there are too many categorical tags. The arguments override the var.
-#}
{% test wecom_tag_limits(model, max_groups=none, max_tags_per_group=none) %}
{%- set limits = var('wecom_limits') -%}
{%- set max_groups = limits.max_tag_groups if max_groups is none else max_groups -%}
{%- set max_tags_per_group = (
    limits.max_tags_per_group if max_tags_per_group is none else max_tags_per_group) -%}

select
    tag_name,
    distinct_values as found,
    'more than {{ max_tags_per_group }} values for one WeCom tag group' as problem
from {{ model }}
where is_categorical and distinct_values > {{ max_tags_per_group }}

union all

select
    'all categorical tags' as tag_name,
    count(*) as found,
    'more than {{ max_groups }} WeCom tag groups' as problem
from {{ model }}
where is_categorical
having count(*) > {{ max_groups }}

{% endtest %}
