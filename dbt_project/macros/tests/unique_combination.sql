{#- Fails for every combination of `columns` that occurs more than once. With
    `this_night_only`, only the rows of the night being built: for a table kept per night,
    whose build replaces that night's rows only, the other nights were checked when they were
    built, and the check no longer grows with the history. -#}
{% test unique_combination(model, columns, this_night_only=false) %}

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
{%- if this_night_only %}
where as_of_date = {{ as_of_date() }}
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
