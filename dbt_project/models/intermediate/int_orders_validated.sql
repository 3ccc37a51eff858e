-- The staging checks plus the customer reference check (macros/quarantine.sql).
{{ select_with_customer_check('stg_raw__orders') }}
