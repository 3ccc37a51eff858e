{#-
    The as-of date of the night being computed. Every model that applies the point-in-time
    rule goes through these macros; nothing else reads the var or the clock.

    The night comes from the var, else from the environment (SCRM_AS_OF_DATE,
    SCRM_RUN_STARTED_AT), which is how `scrm run` passes it: dbt parses the project in full
    again whenever the vars differ from those of the parse it kept, a new night every night.
    The environment is read when the SQL is executed only, not at parse time, so that no
    model is parsed again for a new night either (night_setting).
-#}

{#- A setting of the night: `var_name`, else the environment's `environment_name` when
    executing, else none. -#}
{% macro night_setting(var_name, environment_name) %}
    {%- set configured = var(var_name, none) -%}
    {%- if (configured is none or configured == '') and execute -%}
        {%- set configured = env_var(environment_name, '') -%}
    {%- endif -%}
    {{- return(none if configured == '' else configured) -}}
{% endmacro %}

{#-
    Without a setting, the latest night that has ended: yesterday in Asia/Shanghai, the rule
    `scrm run` follows (orchestration/nights.py, last_ended_night). Today has not ended, and
    a night is computed from the events up to its end.
-#}
{% macro as_of_date_value() %}
    {%- set configured = night_setting('as_of_date', 'SCRM_AS_OF_DATE') -%}
    {%- if configured is none -%}
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
    {%- set configured = night_setting('run_started_at', 'SCRM_RUN_STARTED_AT') -%}
    {%- if configured is none -%}
        {%- set shanghai = modules.pytz.timezone('Asia/Shanghai') -%}
        {%- set moment = run_started_at.astimezone(shanghai).strftime('%Y-%m-%d %H:%M:%S') -%}
    {%- else -%}
        {%- set moment = configured | string -%}
    {%- endif -%}
    cast('{{ moment }}' as timestamp)
{%- endmacro %}
