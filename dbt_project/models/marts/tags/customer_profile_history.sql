{#-
    customer_profile of every night built, by as_of_date: one row per customer a night, every
    tag a column. A rebuilt night replaces its own rows only, so nights can be rebuilt in any
    order. Kept wide, not in long form: at a million customers a night is a million rows here,
    where the long form is 47 million (customer_tags_history is that long form, as a view).
    `_written_at` lets the publisher find the nights written since it last published without
    hashing every night kept (docs/bi.md).
-#}
-- depends_on: {{ ref('customer_erasures') }}
{{ kept_per_night(erasures="ref('customer_erasures')") }}

select
    *,
    {{ written_at() }} as _written_at
from {{ ref('customer_profile') }}
