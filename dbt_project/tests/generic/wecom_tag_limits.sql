{#-
    WeCom holds at most 100 tag groups of at most 100 tags each. Synced as groups, the
    categorical tags of a catalogue must fit: fails on a tag with too many values, and on
    the catalogue when there are too many categorical tags.
-#}
{% test wecom_tag_limits(model, max_groups=100, max_tags_per_group=100) %}

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
