{#- dbt's `unique`, for an incremental table (macros/checked_writes.sql): fails for every
    value of `column_name` held by more than one row, looking only at the values of the rows
    written since the model's checks last passed. When most rows were (a full build), the
    whole table is grouped instead, as `unique` does: that is cheaper than picking the values
    first, and checks a superset. -#}
{% test unique_since_last_check(model, column_name) %}
{%- set picked = few_rows_written_since_last_check(model) %}

{%- if picked %}
with

written_values as (
    select distinct {{ column_name }} as written_value
    from {{ model }}
    where {{ written_since_last_check(model) }}
)
{%- endif %}

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where
    {{ column_name }} is not null
    {%- if picked %}
    and {{ column_name }} in (select written_value from written_values)
    {%- endif %}
group by {{ column_name }}
having count(*) > 1

{% endtest %}
