{#-
    The as-of date of the night being computed. Every model that applies the point-in-time
    rule goes through these macros; nothing else reads the var or the clock.
-#}

{#-
    Without the var, the latest night that has ended: yesterday in Asia/Shanghai, the rule
    `scrm run` follows (orchestration/nights.py, last_ended_night). Today has not ended, and
    a night is computed from the events up to its end.
-#}
{% macro as_of_date_value() %}
    {%- set configured = var('as_of_date', none) -%}
    {%- if configured is none or configured == '' -%}
        {%- set shanghai = modules.pytz.timezone('Asia/Shanghai') -%}
        {%- set yesterday = modules.datetime.datetime.now(shanghai) - modules.datetime.timedelta(days=1) -%}
        {{- return(yesterday.strftime('%Y-%m-%d')) -}}
    {%- endif -%}
    {%- set parsed = modules.datetime.datetime.strptime(configured | string, '%Y-%m-%d') -%}
    {{- return(parsed.strftime('%Y-%m-%d')) -}}
{% endmacro %}

{#- The as-of date as a SQL date literal. -#}
{% macro as_of_date() %}cast('{{ as_of_date_value() }}' as date){% endmacro %}

{#- Exclusive upper bound of the as-of day: events strictly before it belong to the night. -#}
{% macro as_of_end() %}
    {%- set day = modules.datetime.datetime.strptime(as_of_date_value(), '%Y-%m-%d') -%}
    {%- set next_day = day + modules.datetime.timedelta(days=1) -%}
    cast('{{ next_day.strftime("%Y-%m-%d") }} 00:00:00' as timestamp)
{%- endmacro %}

{#-
    The moment the run started, in Asia/Shanghai local time: raw timestamps after it are
    impossible data and are quarantined.
-#}
{% macro run_started_at_local() %}
    {%- set configured = var('run_started_at', none) -%}
    {%- if configured is none or configured == '' -%}
        {%- set shanghai = modules.pytz.timezone('Asia/Shanghai') -%}
        {%- set moment = run_started_at.astimezone(shanghai).strftime('%Y-%m-%d %H:%M:%S') -%}
    {%- else -%}
        {%- set moment = configured | string -%}
    {%- endif -%}
    cast('{{ moment }}' as timestamp)
{%- endmacro %}
