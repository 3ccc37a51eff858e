{#- Fails when the model does not have exactly as many rows as `compare_to`. -#}
{% test row_count_matches(model, compare_to) %}

with

model_rows as (
    select count(*) as row_count from {{ model }}
),

compared_rows as (
    select count(*) as row_count from {{ compare_to }}
)

select
    model_rows.row_count as model_row_count,
    compared_rows.row_count as compared_row_count
from model_rows
cross join compared_rows
where model_rows.row_count <> compared_rows.row_count

{% endtest %}
