{#- Fails for every combination of `columns` that occurs more than once.
    - this_night_only: only the rows of the night being built. For a table kept per night,
      whose build replaces that night's rows only, the other nights were checked when they
      were built, and the check no longer grows with the history.
    - since_last_check: only the combinations of the rows written since the model's checks
      last passed (macros/checked_writes.sql), for an incremental table; all of them when
      most rows were (a full build), which is cheaper than picking them first. -#}
{% test unique_combination(model, columns, this_night_only=false, since_last_check=false) %}
{%- set picked = since_last_check and few_rows_written_since_last_check(model) %}

{%- if picked %}
with

written_combinations as (
    select distinct {{ columns | join(', ') }}
    from {{ model }}
    where {{ written_since_last_check(model) }}
)
{%- endif %}

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from (select * from {{ model }}) as candidate
where
    true
    {%- if this_night_only %}
    and as_of_date = {{ as_of_date() }}
    {%- endif %}
    {%- if picked %}
    and exists (
        select 1 from written_combinations
        where
            {%- for column in columns %}
            written_combinations.{{ column }} is not distinct from candidate.{{ column }}
            {{- ' and' if not loop.last }}
            {%- endfor %}
    )
    {%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
