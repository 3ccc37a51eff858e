{#- Returns every row of the model: for a table that lists problems, such as unseen tag values,
    to flag any at the severity the test is configured with. -#}
{% test is_empty(model) %}
select * from {{ model }}
{% endtest %}
