{#-
    Interval arithmetic for campaign_lift, as plain SQL expressions every engine runs
    (sqrt and arithmetic only). docs/segments.md says why these intervals and not Wald's.
-#}

{#- The two-sided 95% normal quantile. -#}
{% macro z_95() -%}1.96{%- endmacro %}

{#- A bound of the 95% Wilson score interval of `successes` out of `trials` (`side` 'low' or
    'high'); null without trials. Unlike Wald's, it is no single point at a rate of 0 or 1:
    0 of n gives [0, z² / (n + z²)]. Clamped to [0, 1] against rounding. -#}
{% macro wilson_bound(successes, trials, side) -%}
    {%- set z = z_95() | float -%}
    {%- set sign = '-' if side == 'low' else '+' -%}
    {{ 'greatest(0.0, ' if side == 'low' else 'least(1.0, ' }}(
        {{ successes }} + {{ z * z / 2 }}
        {{ sign }} {{ z }} * sqrt(
            cast({{ successes }} as double) * ({{ trials }} - {{ successes }})
            / nullif({{ trials }}, 0)
            + {{ z * z / 4 }}
        )
    ) / ({{ trials }} + {{ z * z }}))
{%- endmacro %}

{#- A bound of Newcombe's (1998) hybrid score interval, method 10, for the treated minus the
    holdout rate (`side` 'low' or 'high'): each side of the difference widened by the distances
    from the arms' rates to the facing Wilson bounds, added in quadrature. It reads the columns
    treated_rate, holdout_rate and their wilson_bound columns `<rate>_low` and `<rate>_high`;
    null without customers in both arms. -#}
{% macro newcombe_bound(side) -%}
    {%- if side == 'low' -%}
    treated_rate - holdout_rate - sqrt(
        power(treated_rate - treated_rate_low, 2) + power(holdout_rate_high - holdout_rate, 2)
    )
    {%- else -%}
    treated_rate - holdout_rate + sqrt(
        power(treated_rate_high - treated_rate, 2) + power(holdout_rate - holdout_rate_low, 2)
    )
    {%- endif -%}
{%- endmacro %}

{#- The 97.5% quantile of Student's t with `df` degrees of freedom (a double, as Welch's df
    is), by the Cornish-Fisher expansion in 1/df to the fourth order (Abramowitz and Stegun
    26.7.5): engines have no t quantile function in common. Against scipy's t.ppf the error
    is under 0.12% from df = 3 (0.002% from df = 6) and the interval slightly too narrow
    below: 0.7% at df = 2, 11% at df = 1. Welch's df is at least the smaller arm's size less
    one, so an arm of at least 4 customers keeps the error under 0.12%. -#}
{% macro t_quantile_975(df) -%}
    {%- set z = z_95() | float -%}
    {%- set g1 = (z ** 3 + z) / 4 -%}
    {%- set g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96 -%}
    {%- set g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384 -%}
    {%- set g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z)
        / 92160 -%}
    ({{ z }} + {{ g1 }} / ({{ df }}) + {{ g2 }} / power({{ df }}, 2)
        + {{ g3 }} / power({{ df }}, 3) + {{ g4 }} / power({{ df }}, 4))
{%- endmacro %}
