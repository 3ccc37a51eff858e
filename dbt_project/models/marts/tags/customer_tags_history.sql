{#-
    Every night's customer_tags, kept. A rebuilt night replaces its own rows only, so nights
    can be rebuilt in any order.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key=(none if target.type == 'spark' else 'as_of_date'),
    partition_by=(['as_of_date'] if target.type == 'spark' else none),
) }}

select
    customer_id,
    tag_category,
    tag_name,
    tag_value,
    as_of_date
from {{ ref('customer_tags') }}
