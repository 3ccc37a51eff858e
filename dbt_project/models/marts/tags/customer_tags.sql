{#-
    The night's tags in long form: the night built of customer_tags_history, itself a view of
    customer_profile_history. No rows are written (47 million a night at a million customers).
-#}
{{ config(materialized='view') }}

select
    customer_id,
    tag_category,
    tag_name,
    tag_value,
    as_of_date
from {{ ref('customer_tags_history') }}
where as_of_date = {{ as_of_date() }}
