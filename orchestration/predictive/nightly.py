"""One night of the predictive marts: fit BG/NBD and Gamma-Gamma, predict, backtest.

Pure functions over pandas frames; the Dagster asset reads and writes the warehouse.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestration.predictive.btyd import (
    BgNbdFit,
    GammaGammaFit,
    backtest,
    calibration_holdout_summary,
    customer_lifetime_value,
    fit_bgnbd,
    fit_gamma_gamma,
)


@dataclass(frozen=True)
class PredictionSettings:
    # Fewer buyers than this give parameters nobody should act on: the night records the fit
    # as skipped, with the reason, instead of fitting.
    min_customers: int = 100
    holdout_days: int = 90
    clv_months: int = 12
    discount_rate_monthly: float = 0.01


@dataclass(frozen=True)
class NightPredictions:
    fits: pd.DataFrame
    predictions: pd.DataFrame
    backtest: pd.DataFrame


FIT_COLUMNS = [
    "as_of_date",
    "model",
    "status",
    "detail",
    "n_customers",
    "log_likelihood",
    "iterations",
    "parameters",
    "data_first_purchase_on",
    "data_last_purchase_on",
]
PREDICTION_COLUMNS = [
    "customer_id",
    "probability_alive",
    "expected_purchases_30d",
    "expected_purchases_90d",
    "expected_avg_order_value_cny",
    "clv_12m_cny",
    "as_of_date",
]
BACKTEST_COLUMNS = [
    "as_of_date",
    "calibration_end",
    "holdout_end",
    "frequency_bucket",
    "customers",
    "actual_mean",
    "predicted_mean",
    "total_actual",
    "total_predicted",
    "mean_absolute_error",
]


def _fit_row(
    as_of: dt.date,
    model: str,
    fit: BgNbdFit | GammaGammaFit | None,
    n_customers: int,
    span: tuple[dt.date | None, dt.date | None],
    detail: str = "",
) -> dict[str, object]:
    if fit is None:
        parameters, status, log_likelihood, iterations = None, "skipped", None, None
    else:
        names = ("r", "alpha", "a", "b") if isinstance(fit, BgNbdFit) else ("p", "q", "v")
        parameters = json.dumps({name: float(getattr(fit, name)) for name in names})
        status, log_likelihood, iterations = "fitted", fit.log_likelihood, fit.iterations
    return {
        "as_of_date": as_of,
        "model": model,
        "status": status,
        "detail": detail,
        "n_customers": n_customers,
        "log_likelihood": log_likelihood,
        "iterations": iterations,
        "parameters": parameters,
        "data_first_purchase_on": span[0],
        "data_last_purchase_on": span[1],
    }


def predict_night(
    summary: pd.DataFrame,
    purchase_days: pd.DataFrame,
    as_of: dt.date,
    settings: PredictionSettings = PredictionSettings(),
) -> NightPredictions:
    """Fit on the night's BTYD summary and backtest on a calibration period.

    `summary`: customer_id, btyd_frequency, btyd_recency, btyd_t, btyd_monetary (customer_rfm).
    `purchase_days`: customer_id, purchase_on, amount_cny (fct_purchase_days).
    Raises BtydFitError when a fit that should run does not converge.
    """
    span = (
        (purchase_days["purchase_on"].min(), purchase_days["purchase_on"].max())
        if not purchase_days.empty
        else (None, None)
    )
    frequency = summary["btyd_frequency"].to_numpy(np.float64)
    recency = summary["btyd_recency"].to_numpy(np.float64)
    age = summary["btyd_t"].to_numpy(np.float64)
    monetary = summary["btyd_monetary"].to_numpy(np.float64)
    repeat = (frequency > 0) & (monetary > 0)

    if len(summary) < settings.min_customers:
        reason = f"{len(summary)} buyers, fewer than min_customers={settings.min_customers}"
        fits = pd.DataFrame(
            [
                _fit_row(as_of, "bg_nbd", None, len(summary), span, reason),
                _fit_row(as_of, "gamma_gamma", None, int(repeat.sum()), span, reason),
            ],
            columns=FIT_COLUMNS,
        )
        empty = pd.DataFrame(columns=PREDICTION_COLUMNS)
        return NightPredictions(fits, empty, pd.DataFrame(columns=BACKTEST_COLUMNS))

    bgnbd = fit_bgnbd(frequency, recency, age)
    fit_rows = [_fit_row(as_of, "bg_nbd", bgnbd, len(summary), span)]
    predictions = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "probability_alive": bgnbd.probability_alive(frequency, recency, age),
            "expected_purchases_30d": bgnbd.expected_purchases(30, frequency, recency, age),
            "expected_purchases_90d": bgnbd.expected_purchases(90, frequency, recency, age),
            "expected_avg_order_value_cny": np.nan,
            "clv_12m_cny": np.nan,
            "as_of_date": as_of,
        }
    )
    if repeat.sum() < settings.min_customers:
        reason = f"{int(repeat.sum())} repeat buyers, fewer than min_customers"
        fit_rows.append(_fit_row(as_of, "gamma_gamma", None, int(repeat.sum()), span, reason))
    else:
        spend = fit_gamma_gamma(frequency[repeat], monetary[repeat])
        fit_rows.append(_fit_row(as_of, "gamma_gamma", spend, int(repeat.sum()), span))
        predictions["expected_avg_order_value_cny"] = spend.expected_average_value(
            frequency, monetary
        )
        predictions["clv_12m_cny"] = customer_lifetime_value(
            bgnbd,
            spend,
            frequency,
            recency,
            age,
            monetary,
            months=settings.clv_months,
            discount_rate_monthly=settings.discount_rate_monthly,
        )
    fits = pd.DataFrame(fit_rows, columns=FIT_COLUMNS)
    return NightPredictions(
        fits, predictions[PREDICTION_COLUMNS], run_backtest(purchase_days, as_of, settings)
    )


def run_backtest(
    purchase_days: pd.DataFrame, as_of: dt.date, settings: PredictionSettings
) -> pd.DataFrame:
    """Fit on purchases up to `holdout_days` before the date, predict the holdout, compare."""
    calibration_end = as_of - dt.timedelta(days=settings.holdout_days)
    summary = calibration_holdout_summary(
        purchase_days.rename(columns={"purchase_on": "purchase_date", "amount_cny": "amount"}),
        calibration_end,
        as_of,
    )
    if len(summary) < settings.min_customers:
        return pd.DataFrame(columns=BACKTEST_COLUMNS)
    fit = fit_bgnbd(summary["frequency_cal"], summary["recency_cal"], summary["T_cal"])
    result = backtest(fit, summary)
    rows = [
        {
            "frequency_bucket": "all",
            "customers": len(summary),
            "actual_mean": result.total_actual / len(summary),
            "predicted_mean": result.total_predicted / len(summary),
            "total_actual": result.total_actual,
            "total_predicted": result.total_predicted,
            "mean_absolute_error": result.mean_absolute_error,
        }
    ]
    for bucket, row in result.by_frequency.iterrows():
        rows.append(
            {
                "frequency_bucket": str(bucket),
                "customers": int(row["customers"]),
                "actual_mean": float(row["actual_mean"]),
                "predicted_mean": float(row["predicted_mean"]),
                "total_actual": float(row["actual_mean"] * row["customers"]),
                "total_predicted": float(row["predicted_mean"] * row["customers"]),
                "mean_absolute_error": None,
            }
        )
    frame = pd.DataFrame(rows)
    frame.insert(0, "holdout_end", as_of)
    frame.insert(0, "calibration_end", calibration_end)
    frame.insert(0, "as_of_date", as_of)
    return frame[BACKTEST_COLUMNS]


def relative_backtest_error(backtest_rows: pd.DataFrame) -> float | None:
    """|total predicted - total actual| / total actual over the holdout; None without one."""
    overall = backtest_rows[backtest_rows["frequency_bucket"] == "all"]
    if overall.empty:
        return None
    actual = float(overall["total_actual"].iloc[0])
    predicted = float(overall["total_predicted"].iloc[0])
    return abs(predicted - actual) / max(actual, 1.0)
