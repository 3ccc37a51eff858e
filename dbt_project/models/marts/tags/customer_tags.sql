{#-
    The night's tags in long form: the night built of customer_tags_history, not a second copy
    of its rows (47 million at a million customers).
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
