{#-
    Typing raw text. Each parser returns null when the text does not parse; staging compares
    that with the raw value to tell "empty" from "invalid". Engines differ, so each parser
    dispatches; the default is ANSI try_cast (Spark 3.2+, DuckDB).
-#}

{#- Trimmed text, with empty strings as null (Parquet writers often emit '' for missing). -#}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- A phone as an id: its digits only, without China's +86 (a mobile number is 11 digits), so
    +86 138-0000-0000 and 13800000000 are one id; null without a digit. -#}
{% macro normalized_phone(column) -%}
    {%- set digits = digits_only(column) -%}
    nullif(
        case
            when length({{ digits }}) = 13 and {{ digits }} like '86%'
                then substr({{ digits }}, 3)
            else {{ digits }}
        end,
        ''
    )
{%- endmacro %}

{#- True when the raw text is present but the parsed value is null. -#}
{% macro is_unparsable(raw_column, parsed_column) -%}
    ({{ clean_text(raw_column) }} is not null and {{ parsed_column }} is null)
{%- endmacro %}

{#-
    ISO 8601 timestamp to Asia/Shanghai local time. Text with an offset is converted; text
    without one is already local (the session time zone is Asia/Shanghai).
-#}
{% macro parse_timestamp(column) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'scrm')(column)) }}
{%- endmacro %}

{% macro default__parse_timestamp(column) -%}
    try_cast({{ clean_text(column) }} as timestamp)
{%- endmacro %}

{% macro duckdb__parse_timestamp(column) -%}
    try_cast(try_cast({{ clean_text(column) }} as timestamptz) as timestamp)
{%- endmacro %}

{% macro parse_date(column) -%}
    {{ return(adapter.dispatch('parse_date', 'scrm')(column)) }}
{%- endmacro %}

{% macro default__parse_date(column) -%}
    try_cast({{ clean_text(column) }} as date)
{%- endmacro %}

{#- Money in CNY, two decimals. -#}
{% macro parse_amount(column) -%}
    {{ return(adapter.dispatch('parse_amount', 'scrm')(column)) }}
{%- endmacro %}

{% macro default__parse_amount(column) -%}
    try_cast({{ clean_text(column) }} as decimal(18, 2))
{%- endmacro %}

{% macro parse_integer(column) -%}
    {{ return(adapter.dispatch('parse_integer', 'scrm')(column)) }}
{%- endmacro %}

{% macro default__parse_integer(column) -%}
    try_cast({{ clean_text(column) }} as bigint)
{%- endmacro %}
