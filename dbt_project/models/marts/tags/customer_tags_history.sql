{#-
    Every night's customer_tags, kept. A rebuilt night replaces its own rows only, so nights
    can be rebuilt in any order.
-#}
{{ kept_per_night() }}

select
    customer_id,
    tag_category,
    tag_name,
    tag_value,
    as_of_date
from {{ ref('customer_tags') }}
