{#-
    Every night's customer_tags, kept. A rebuilt night replaces its own rows only, so nights
    can be rebuilt in any order. `_written_at` lets the publisher find the nights written
    since it last published without hashing every night kept (docs/bi.md).
-#}
{{ kept_per_night() }}

select
    customer_id,
    tag_category,
    tag_name,
    tag_value,
    as_of_date,
    {{ written_at() }} as _written_at
from {{ ref('customer_tags') }}
