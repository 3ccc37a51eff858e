{#- Every day up to the as-of date, newest first: the spine of the daily marts, which each
    keep the days from their own first event on. 2^16 days (179 years) from dbt's
    cross-database generator, far more than any history, and a table of 65,536 dates. -#}

with

day_numbers as (
    {{ dbt.generate_series(65536) }}
)

select {{ add_days(as_of_date(), '1 - cast(generated_number as integer)') }} as day_on
from day_numbers
