"""The predictive night: every fit's status and reason, predictions only from usable fits."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from lifetimes import GammaGammaFitter

from orchestration.predictive.btyd import fit_bgnbd
from orchestration.predictive.nightly import PredictionSettings, predict_night
from tests.conftest import query
from tests.test_btyd import simulate_bgnbd, simulate_spend

AS_OF = dt.date(2026, 6, 30)


def summary_and_days(
    frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, monetary: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """customer_rfm's BTYD columns and the purchase days behind them, as of AS_OF: the first
    purchase T days before it, repeats evenly up to recency, each day's amount the mean."""
    ids = [f"C{i:03d}" for i in range(frequency.size)]
    summary = pd.DataFrame(
        {
            "customer_id": ids,
            "btyd_frequency": frequency,
            "btyd_recency": recency,
            "btyd_t": T,
            "btyd_monetary": monetary,
        }
    )
    days = []
    for customer, x, t_x, age, m in zip(ids, frequency, recency, T, monetary, strict=True):
        first = AS_OF - dt.timedelta(days=int(age))
        days.append((customer, first, 100.0))
        for k in range(1, int(x) + 1):
            offset = int(t_x) if k == x else int(t_x * k / x)
            days.append((customer, first + dt.timedelta(days=offset), float(m)))
    purchase_days = pd.DataFrame(days, columns=["customer_id", "purchase_on", "amount_cny"])
    return summary, purchase_days


def fits_by_model(night) -> dict[str, dict]:
    return {row["model"]: row for row in night.fits.to_dict("records")}


def test_one_time_buyers_are_not_fitted_and_say_why():
    T = 30.0 + (np.arange(150) * 53) % 335
    zeros = np.zeros(150)
    night = predict_night(*summary_and_days(zeros, zeros, T, zeros), AS_OF)
    fits = fits_by_model(night)
    assert {model: row["status"] for model, row in fits.items()} == {
        "bg_nbd": "not_fitted",
        "gamma_gamma": "not_fitted",
        "bg_nbd_backtest": "not_fitted",
    }
    reason = "none of 150 buyers has a repeat purchase: dropout cannot be estimated"
    assert fits["bg_nbd"]["detail"] == reason
    assert fits["gamma_gamma"]["detail"] == (
        "0 repeat buyers with positive spend, fewer than min_customers=100"
    )
    # 150 - 90 = 60 days back: the buyers first seen 30..90 days ago are not in calibration.
    calibrating = int(np.sum(T > 90))
    assert fits["bg_nbd_backtest"]["detail"] == (
        f"none of {calibrating} buyers has a repeat purchase: dropout cannot be estimated"
    )
    assert pd.isna(fits["bg_nbd"]["parameters"])
    assert night.predictions.empty and night.backtest.empty


def test_few_repeat_buyers_predict_from_a_flagged_boundary_fit():
    T = 30.0 + (np.arange(150) * 53) % 335
    frequency, recency = np.zeros(150), np.zeros(150)
    frequency[:3], recency[:3] = 1, np.floor(T[:3] / 2)
    monetary = np.where(frequency > 0, 89.0, 0.0)
    night = predict_night(*summary_and_days(frequency, recency, T, monetary), AS_OF)
    fits = fits_by_model(night)
    assert fits["bg_nbd"]["status"] == "boundary"
    assert fits["bg_nbd"]["detail"].startswith("3 of 150 buyers repeat; no interior maximum")
    assert "a, b run towards 0 or infinity" in fits["bg_nbd"]["detail"]
    reference = fit_bgnbd(frequency, recency, T)
    assert fits["bg_nbd"]["log_likelihood"] == reference.log_likelihood
    assert json.loads(fits["bg_nbd"]["parameters"])["a"] == reference.a
    # Predictions from the boundary fit for all 150; no spend model with 3 repeat buyers.
    assert len(night.predictions) == 150
    np.testing.assert_allclose(
        night.predictions["probability_alive"],
        reference.probability_alive(frequency, recency, T),
    )
    assert fits["gamma_gamma"]["status"] == "not_fitted"
    assert night.predictions["expected_avg_order_value_cny"].isna().all()
    assert night.predictions["clv_12m_cny"].isna().all()


def test_spend_without_a_finite_mean_is_unusable_and_null():
    # 1,000 buyers drawn from BG/NBD with CDNOW's parameters (per week: alpha in days is 7
    # times theirs); the repeat buyers' spend rates are Gamma(q = 0.6), a tail so heavy that
    # the fitted q is below 1, so p v / (q - 1), the population mean spend, is negative: no
    # expected spend, no CLV.
    rng = np.random.default_rng(5)
    T = np.floor(rng.uniform(120, 360, 1000))
    frequency, recency = simulate_bgnbd(rng, T, r=0.24, alpha=4.41 * 7, a=0.79, b=2.43)
    recency = np.floor(recency)
    monetary = simulate_spend(np.random.default_rng(11), frequency, 2.0, 0.6, 100.0)
    night = predict_night(*summary_and_days(frequency, recency, T, monetary), AS_OF)
    fits = fits_by_model(night)
    spend = fits["gamma_gamma"]
    assert spend["status"] == "unusable"
    assert spend["detail"].startswith("q=0.6253 <= 1: spend per purchase has no finite")
    repeat = frequency > 0
    reference = GammaGammaFitter().fit(frequency[repeat], monetary[repeat])
    assert json.loads(spend["parameters"])["q"] == pytest.approx(reference.params_["q"], rel=1e-4)
    assert spend["n_customers"] == repeat.sum()
    assert night.predictions["expected_avg_order_value_cny"].isna().all()
    assert night.predictions["clv_12m_cny"].isna().all()
    # The purchase model is unaffected.
    assert fits["bg_nbd"]["status"] == "converged"
    assert night.predictions["probability_alive"].notna().all()


def test_invalid_summary_is_a_failed_fit_with_the_message():
    T = 30.0 + (np.arange(150) * 53) % 335
    frequency, recency = np.zeros(150), np.zeros(150)
    frequency[:20], recency[:20] = 2, np.floor(T[:20] / 2)
    recency[0] = T[0] + 1  # a summary no purchase history can give
    monetary = np.where(frequency > 0, 89.0, 0.0)
    summary, purchase_days = summary_and_days(frequency, recency, T, monetary)
    fits = fits_by_model(predict_night(summary, purchase_days, AS_OF))
    assert fits["bg_nbd"]["status"] == "failed"
    assert fits["bg_nbd"]["detail"] == "recency exceeds T for 1 customers"
    assert pd.isna(fits["bg_nbd"]["parameters"])


def test_penalizer_setting_reaches_both_purchase_fits():
    T = 60.0 + (np.arange(150) * 37) % 340
    frequency = np.floor(T / 30)
    recency = 30 * frequency
    monetary = np.where(frequency > 0, 120.0, 0.0)
    settings = PredictionSettings(bgnbd_penalizer_coef=0.1)
    summary, purchase_days = summary_and_days(frequency, recency, T, monetary)
    fits = fits_by_model(predict_night(summary, purchase_days, AS_OF, settings))
    penalised = fit_bgnbd(frequency, recency, T, penalizer=0.1)
    assert json.loads(fits["bg_nbd"]["parameters"])["r"] == penalised.r
    unpenalised = fits_by_model(predict_night(summary, purchase_days, AS_OF))
    assert json.loads(unpenalised["bg_nbd"]["parameters"])["r"] != penalised.r
    calibration = fits["bg_nbd_backtest"]["parameters"]
    unpenalised_calibration = unpenalised["bg_nbd_backtest"]["parameters"]
    assert calibration is not None and calibration != unpenalised_calibration


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
    assert status == "converged"
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
        ("bg_nbd", "not_fitted"),
        ("bg_nbd_backtest", "not_fitted"),
        ("gamma_gamma", "not_fitted"),
    ]
    assert fits[0][2] == "8 buyers, fewer than min_customers=100"
    assert fits[2][2] == "3 repeat buyers with positive spend, fewer than min_customers=100"
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
