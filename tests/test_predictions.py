"""The predictive asset in the nightly job: fits stored, predictions from them, skips explained."""

import json

import pytest

from tests.conftest import query


def test_predictions_follow_the_stored_fit(generated_night):
    _, warehouse = generated_night
    fits = {
        model: (status, json.loads(parameters) if parameters else None, n_customers)
        for model, status, parameters, n_customers in query(
            warehouse,
            "select model, status, parameters, n_customers from predictive.btyd_model_fits",
        )
    }
    status, params, n_customers = fits["bg_nbd"]
    assert status == "fitted"
    buyers = query(warehouse, "select count(*) from marts.customer_rfm")[0][0]
    assert n_customers == buyers
    assert query(warehouse, "select count(*) from predictive.customer_predictions") == [(buyers,)]

    # P(alive) for every repeat buyer, from the closed form with the stored parameters.
    rows = query(
        warehouse,
        """
        select rfm.btyd_frequency, rfm.btyd_recency, rfm.btyd_t, predictions.probability_alive
        from marts.customer_rfm as rfm
        inner join predictive.customer_predictions as predictions
            on rfm.customer_id = predictions.customer_id
        """,
    )
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    for x, t_x, age, p_alive in rows:
        if x == 0:
            assert p_alive == 1.0
        else:
            odds = (a / (b + x - 1)) * ((alpha + age) / (alpha + t_x)) ** (r + x)
            assert p_alive == pytest.approx(1 / (1 + odds), rel=1e-9)


def test_backtest_compares_the_holdout(generated_night):
    _, warehouse = generated_night
    rows = query(
        warehouse,
        """
        select frequency_bucket, customers, total_actual, total_predicted,
               cast(holdout_end - calibration_end as integer)
        from predictive.model_backtest order by frequency_bucket
        """,
    )
    overall = [row for row in rows if row[0] == "all"]
    if not overall:
        pytest.skip("too few buyers for a backtest in this sample")
    _, customers, total_actual, total_predicted, holdout = overall[0]
    assert holdout == 90
    buckets = [row for row in rows if row[0] != "all"]
    assert sum(row[1] for row in buckets) == customers
    assert sum(row[2] for row in buckets) == pytest.approx(total_actual)
    assert sum(row[3] for row in buckets) == pytest.approx(total_predicted)
    # Actual holdout purchase days, counted independently from the purchase facts.
    actual = query(
        warehouse,
        """
        with first_days as (
            select customer_id, min(purchase_on) as first_on from marts.fct_purchase_days
            group by customer_id
        )
        select count(*) from marts.fct_purchase_days as days
        inner join first_days on days.customer_id = first_days.customer_id
        where first_days.first_on <= date '2026-08-02' and days.purchase_on > date '2026-08-02'
        """,
    )[0][0]
    assert total_actual == actual


def test_too_few_buyers_is_recorded_not_guessed(customer_marts_warehouse):
    fits = query(
        customer_marts_warehouse,
        """
        select model, status, detail, parameters from predictive.btyd_model_fits
        where as_of_date = '2026-06-30' order by model
        """,
    )
    assert [(model, status) for model, status, _, _ in fits] == [
        ("bg_nbd", "skipped"),
        ("gamma_gamma", "skipped"),
    ]
    assert "8 buyers, fewer than min_customers=100" in fits[0][2]
    assert fits[0][3] is None
    assert query(
        customer_marts_warehouse, "select count(*) from predictive.customer_predictions"
    ) == [(0,)]


def test_likely_to_churn_tag_reads_tonights_predictions(generated_night):
    _, warehouse = generated_night
    mismatches = query(
        warehouse,
        """
        select count(*) from marts.customer_profile as profile
        left join predictive.customer_predictions as predictions
            on profile.customer_id = predictions.customer_id
        where profile.is_likely_to_churn is distinct from (predictions.probability_alive < 0.5)
            or profile.probability_alive is distinct from predictions.probability_alive
        """,
    )
    assert mismatches == [(0,)]
    flagged = query(
        warehouse,
        """
        select count(*), min(rfm.btyd_frequency) from marts.customer_profile as profile
        inner join marts.customer_rfm as rfm on profile.customer_id = rfm.customer_id
        where profile.is_likely_to_churn
        """,
    )[0]
    if flagged[0]:
        assert flagged[1] >= 1  # never a one-time buyer
