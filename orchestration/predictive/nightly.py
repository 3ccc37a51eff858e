"""One night of the predictive marts: fit BG/NBD and Gamma-Gamma, predict, backtest.

Pure functions over pandas frames; the Dagster asset reads and writes the warehouse.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from numpy.linalg import LinAlgError

from orchestration.language import N_
from orchestration.predictive.btyd import (
    INVALID_INPUT,
    ITERATION_LIMIT,
    LIKELIHOOD_STILL_RISES,
    NON_FINITE_POINT,
    BgNbdFit,
    Boundary,
    BtydFitError,
    FloatArray,
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
    # as not fitted, with the reason, instead of fitting.
    min_customers: int = 100
    holdout_days: int = 90
    clv_months: int = 12
    discount_rate_monthly: float = 0.01
    # lifetimes' penalizer_coef for both BG/NBD fits (night and backtest): penalizer * sum of
    # squared parameters, time in units of max T. Off by default: a penalised fit is no longer
    # the maximum-likelihood one. Gamma-Gamma is not penalised: its v is in CNY, where the same
    # coefficient would swamp the likelihood.
    bgnbd_penalizer_coef: float = 0.0


# A fit's status in btyd_model_fits. Predictions come only from a usable fit.
CONVERGED = "converged"  # an interior maximum, certified by Newton steps
BOUNDARY = "boundary"  # the likelihood levels off towards a parameter's 0 or infinity
NOT_FITTED = "not_fitted"  # too few buyers or repeat buyers to fit at all
FAILED = "failed"  # the fit raised: the message is the detail
UNUSABLE = "unusable"  # fitted, but its predictions would not be finite (Gamma-Gamma q <= 1)
USABLE_STATUSES = (CONVERGED, BOUNDARY)
# What each status means, for the report (in the operator's language: it translates them).
FIT_STATUSES = {
    CONVERGED: N_("an interior maximum; predictions from it"),
    BOUNDARY: N_(
        "the likelihood levels off towards the edge of the parameter space; "
        "predictions from that fit, flagged"
    ),
    NOT_FITTED: N_("too few buyers or repeat buyers to fit; no predictions from it"),
    FAILED: N_("the fit could not be made; no predictions from it"),
    UNUSABLE: N_("fitted, but its predictions would not be finite; they are null"),
}

# Why a fit has its status, as fields: btyd_model_fits.detail_fields is {"reason": one of these,
# or of a failed fit's (orchestration/predictive/btyd.py), and the values its words need}; the
# report words it in the operator's language. A detail without fields (a night from before
# them) is shown as it is.
TOO_FEW_BUYERS = "too_few_buyers"  # buyers, min_customers
NO_REPEAT_BUYERS = "no_repeat_buyers"  # buyers
REPEAT_BUYERS = "repeat_buyers"  # repeat_buyers, buyers
TOO_FEW_REPEAT_SPENDERS = "too_few_repeat_spenders"  # repeat_buyers, min_customers
NO_FINITE_MEAN_SPEND = "no_finite_mean_spend"  # q
# Worded by the report from its parts: running, at_search_edge, parameters (and for BG/NBD
# repeat_buyers, buyers).
NO_INTERIOR_MAXIMUM = "no_interior_maximum"
# An error other than BtydFitError's: error_type, error.
FIT_ERROR = "fit_error"
# predictions (how many are not finite), status and fields: the usable fit's, now unusable.
NON_FINITE_PREDICTIONS = "non_finite_predictions"
# Each reason in words, for the report (in the operator's language: it translates them).
FIT_DETAILS = {
    TOO_FEW_BUYERS: N_("{buyers} buyers, fewer than min_customers={min_customers}"),
    NO_REPEAT_BUYERS: N_(
        "none of {buyers} buyers has a repeat purchase: dropout cannot be estimated"
    ),
    REPEAT_BUYERS: N_("{repeat_buyers} of {buyers} buyers repeat"),
    TOO_FEW_REPEAT_SPENDERS: N_(
        "{repeat_buyers} repeat buyers with positive spend, fewer than "
        "min_customers={min_customers}"
    ),
    NO_FINITE_MEAN_SPEND: N_(
        "q={q} <= 1: spend per purchase has no finite population mean, so the expected spend "
        "and CLV would be negative or infinite; they are null"
    ),
    ITERATION_LIMIT: N_(
        "the fit did not converge within maxiter={maxiter} iterations (last parameters "
        "{parameters})"
    ),
    NON_FINITE_POINT: N_("the fit ended at a point where the likelihood is not finite"),
    LIKELIHOOD_STILL_RISES: N_(
        "the fit did not converge: the search stopped after {iterations} iterations at "
        "{parameters}, where the likelihood still rises (largest gradient component {gradient})"
    ),
    INVALID_INPUT: N_("the fit's input is invalid, a fault upstream to report: {error}"),
    FIT_ERROR: N_("the fit raised {error_type}: {error}"),
}

# The night's two models and the backtest's calibration fit.
BG_NBD, GAMMA_GAMMA, BG_NBD_BACKTEST = "bg_nbd", "gamma_gamma", "bg_nbd_backtest"


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
    "detail_fields",
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


F = TypeVar("F", BgNbdFit, GammaGammaFit)


@dataclass(frozen=True)
class FitOutcome(Generic[F]):
    """One model's fit of the night: its status, why, and the fit when there is one."""

    model: str
    status: str
    detail: str
    n_customers: int
    fit: F | None = None
    # The detail as fields ({"reason": ..., counts}), where it has them.
    fields: Mapping[str, Any] | None = None

    @property
    def usable(self) -> bool:
        return self.status in USABLE_STATUSES

    @property
    def usable_fit(self) -> F | None:
        """The fit when its predictions may be used (a usable status always has one)."""
        return self.fit if self.usable else None

    def row(self, as_of: dt.date, span: tuple[dt.date | None, dt.date | None]) -> dict:
        fit = self.fit
        parameters = None
        if fit is not None:
            names = ("r", "alpha", "a", "b") if isinstance(fit, BgNbdFit) else ("p", "q", "v")
            parameters = json.dumps({name: float(getattr(fit, name)) for name in names})
        return {
            "as_of_date": as_of,
            "model": self.model,
            "status": self.status,
            "detail": self.detail,
            "detail_fields": json.dumps(dict(self.fields)) if self.fields else None,
            "n_customers": self.n_customers,
            "log_likelihood": fit.log_likelihood if fit else None,
            "iterations": fit.iterations if fit else None,
            "parameters": parameters,
            "data_first_purchase_on": span[0],
            "data_last_purchase_on": span[1],
        }


# A fit that raises one of these is a failed fit, with the message; never a failed night.
_FIT_ERRORS = (BtydFitError, ArithmeticError, ValueError, LinAlgError)


def _failure(model: str, n_customers: int, error: Exception) -> FitOutcome[Any]:
    """A failed fit: BtydFitError's message says what failed, with its fields; any other error
    is named by its type."""
    if isinstance(error, BtydFitError):
        return FitOutcome(model, FAILED, str(error), n_customers, fields=error.fields)
    fields = {"reason": FIT_ERROR, "error_type": type(error).__name__, "error": str(error)}
    return FitOutcome(model, FAILED, f"{type(error).__name__}: {error}", n_customers, fields=fields)


def _boundary_fields(boundary: Boundary) -> dict[str, Any]:
    return {
        "reason": NO_INTERIOR_MAXIMUM,
        "running": list(boundary.running),
        "at_search_edge": boundary.at_search_edge,
        "parameters": dict(boundary.parameters),
    }


def _fit_bgnbd(
    model: str,
    frequency: FloatArray,
    recency: FloatArray,
    age: FloatArray,
    settings: PredictionSettings,
) -> FitOutcome[BgNbdFit]:
    """BG/NBD on a summary, or the reason there is none; never raises."""
    n_customers, repeat_buyers = frequency.size, int(np.sum(frequency > 0))
    if n_customers < settings.min_customers:
        reason = f"{n_customers} buyers, fewer than min_customers={settings.min_customers}"
        fields = {"reason": TOO_FEW_BUYERS, "buyers": n_customers}
        fields["min_customers"] = settings.min_customers
        return FitOutcome(model, NOT_FITTED, reason, n_customers, fields=fields)
    if repeat_buyers == 0:
        reason = f"none of {n_customers} buyers has a repeat purchase: dropout cannot be estimated"
        fields = {"reason": NO_REPEAT_BUYERS, "buyers": n_customers}
        return FitOutcome(model, NOT_FITTED, reason, n_customers, fields=fields)
    try:
        fit = fit_bgnbd(frequency, recency, age, penalizer=settings.bgnbd_penalizer_coef)
    except _FIT_ERRORS as error:
        return _failure(model, n_customers, error)
    counted = f"{repeat_buyers} of {n_customers} buyers repeat"
    fields = {"reason": REPEAT_BUYERS, "repeat_buyers": repeat_buyers, "buyers": n_customers}
    if fit.boundary is not None:
        detail = f"{counted}; {fit.boundary.text()}"
        fields = {**_boundary_fields(fit.boundary), **fields, "reason": NO_INTERIOR_MAXIMUM}
        return FitOutcome(model, BOUNDARY, detail, n_customers, fit, fields)
    return FitOutcome(model, CONVERGED, counted, n_customers, fit, fields)


def _fit_spend(
    frequency: FloatArray, monetary: FloatArray, settings: PredictionSettings
) -> FitOutcome[GammaGammaFit]:
    """Gamma-Gamma on the repeat buyers with positive spend, or the reason there is none."""
    repeat = (frequency > 0) & (monetary > 0)
    n_repeat = int(repeat.sum())
    if n_repeat < settings.min_customers:
        reason = (
            f"{n_repeat} repeat buyers with positive spend, fewer than "
            f"min_customers={settings.min_customers}"
        )
        fields = {"reason": TOO_FEW_REPEAT_SPENDERS, "repeat_buyers": n_repeat}
        fields["min_customers"] = settings.min_customers
        return FitOutcome(GAMMA_GAMMA, NOT_FITTED, reason, n_repeat, fields=fields)
    try:
        fit = fit_gamma_gamma(frequency[repeat], monetary[repeat])
    except _FIT_ERRORS as error:
        return _failure(GAMMA_GAMMA, n_repeat, error)
    if not fit.has_finite_mean:
        reason = (
            f"q={fit.q:.4g} <= 1: spend per purchase has no finite population mean, so the "
            "expected spend and CLV would be negative or infinite; they are null"
        )
        fields = {"reason": NO_FINITE_MEAN_SPEND, "q": float(fit.q)}
        return FitOutcome(GAMMA_GAMMA, UNUSABLE, reason, n_repeat, fit, fields)
    if fit.boundary is not None:
        fields = _boundary_fields(fit.boundary)
        return FitOutcome(GAMMA_GAMMA, BOUNDARY, fit.boundary.text(), n_repeat, fit, fields)
    return FitOutcome(GAMMA_GAMMA, CONVERGED, "", n_repeat, fit)


def _withhold_non_finite(outcome: FitOutcome[F], values: list[FloatArray]) -> FitOutcome[F]:
    """A usable fit whose predictions overflow is unusable: say so rather than write them."""
    bad = int(sum(np.sum(~np.isfinite(v)) for v in values))
    if not outcome.usable or bad == 0:
        return outcome
    detail = f"{bad} predictions are not finite, so none are kept ({outcome.status}: "
    fields = {
        "reason": NON_FINITE_PREDICTIONS,
        "predictions": bad,
        "status": outcome.status,
        "fields": dict(outcome.fields or {}),
    }
    return replace(outcome, status=UNUSABLE, detail=f"{detail}{outcome.detail})", fields=fields)


def _purchase_span(purchase_days: pd.DataFrame) -> tuple[dt.date | None, dt.date | None]:
    if purchase_days.empty:
        return None, None
    return purchase_days["purchase_on"].min(), purchase_days["purchase_on"].max()


def predict_night(
    summary: pd.DataFrame,
    purchase_days: pd.DataFrame,
    as_of: dt.date,
    settings: PredictionSettings = PredictionSettings(),
) -> NightPredictions:
    """Fit on the night's BTYD summary and backtest on a calibration period; never raises.

    `summary`: customer_id, btyd_frequency, btyd_recency, btyd_t, btyd_monetary (customer_rfm).
    `purchase_days`: customer_id, purchase_on, amount_cny (fct_purchase_days).
    Each fit is recorded with its status and reason (FitOutcome). Predictions come only from
    usable fits (converged or boundary); a column whose model is not usable is null, and
    there are no rows when neither model is.
    """
    span = _purchase_span(purchase_days)
    frequency = summary["btyd_frequency"].to_numpy(np.float64)
    recency = summary["btyd_recency"].to_numpy(np.float64)
    age = summary["btyd_t"].to_numpy(np.float64)
    monetary = summary["btyd_monetary"].to_numpy(np.float64)

    nan = np.full(frequency.size, np.nan)
    purchases = _fit_bgnbd(BG_NBD, frequency, recency, age, settings)
    alive, in_30d, in_90d = nan, nan, nan
    if (bgnbd := purchases.usable_fit) is not None:
        with np.errstate(all="ignore"):
            alive = bgnbd.probability_alive(frequency, recency, age)
            in_30d = bgnbd.expected_purchases(30, frequency, recency, age)
            in_90d = bgnbd.expected_purchases(90, frequency, recency, age)
        purchases = _withhold_non_finite(purchases, [alive, in_30d, in_90d])
        if not purchases.usable:
            alive, in_30d, in_90d = nan, nan, nan

    spend = _fit_spend(frequency, monetary, settings)
    spend_per_day, clv = nan, nan
    if (gamma_gamma := spend.usable_fit) is not None:
        with np.errstate(all="ignore"):
            spend_per_day = gamma_gamma.expected_average_value(frequency, monetary)
        spend = _withhold_non_finite(spend, [spend_per_day])
        spend_per_day = spend_per_day if spend.usable else nan
    bgnbd, gamma_gamma = purchases.usable_fit, spend.usable_fit
    if bgnbd is not None and gamma_gamma is not None:
        with np.errstate(all="ignore"):
            clv = customer_lifetime_value(
                bgnbd,
                gamma_gamma,
                frequency,
                recency,
                age,
                monetary,
                months=settings.clv_months,
                discount_rate_monthly=settings.discount_rate_monthly,
            )
        clv = np.where(np.isfinite(clv), clv, np.nan)

    predictions = pd.DataFrame(columns=PREDICTION_COLUMNS)
    if purchases.usable or spend.usable:
        predictions = pd.DataFrame(
            {
                "customer_id": summary["customer_id"].to_numpy(),
                "probability_alive": alive,
                "expected_purchases_30d": in_30d,
                "expected_purchases_90d": in_90d,
                "expected_avg_order_value_cny": spend_per_day,
                "clv_12m_cny": clv,
                "as_of_date": as_of,
            }
        )[PREDICTION_COLUMNS]
    calibration, backtest_rows = run_backtest(purchase_days, as_of, settings)
    calibration_end = as_of - dt.timedelta(days=settings.holdout_days)
    calibration_days = purchase_days[
        pd.to_datetime(purchase_days["purchase_on"]) <= pd.Timestamp(calibration_end)
    ]
    calibration_span = _purchase_span(calibration_days)
    fits = pd.DataFrame(
        [
            purchases.row(as_of, span),
            spend.row(as_of, span),
            calibration.row(as_of, calibration_span),
        ],
        columns=FIT_COLUMNS,
    )
    return NightPredictions(fits, predictions, backtest_rows)


def run_backtest(
    purchase_days: pd.DataFrame, as_of: dt.date, settings: PredictionSettings
) -> tuple[FitOutcome[BgNbdFit], pd.DataFrame]:
    """Fit on purchases up to `holdout_days` before the date, predict the holdout, compare.

    Returns the calibration fit's outcome and the backtest rows (none unless it is usable).
    """
    calibration_end = as_of - dt.timedelta(days=settings.holdout_days)
    summary = calibration_holdout_summary(
        purchase_days.rename(columns={"purchase_on": "purchase_date", "amount_cny": "amount"}),
        calibration_end,
        as_of,
    )
    calibration = _fit_bgnbd(
        BG_NBD_BACKTEST,
        summary["frequency_cal"].to_numpy(np.float64),
        summary["recency_cal"].to_numpy(np.float64),
        summary["T_cal"].to_numpy(np.float64),
        settings,
    )
    fit = calibration.usable_fit
    if fit is None:
        return calibration, pd.DataFrame(columns=BACKTEST_COLUMNS)
    with np.errstate(all="ignore"):
        result = backtest(fit, summary)
    if not np.all(np.isfinite(result.customers["predicted_holdout"])):
        return _withhold_non_finite(
            calibration, [result.customers["predicted_holdout"].to_numpy()]
        ), pd.DataFrame(columns=BACKTEST_COLUMNS)
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
    return calibration, frame[BACKTEST_COLUMNS]


def relative_backtest_error(backtest_rows: pd.DataFrame) -> float | None:
    """|total predicted - total actual| / total actual over the holdout; None without one."""
    overall = backtest_rows[backtest_rows["frequency_bucket"] == "all"]
    if overall.empty:
        return None
    actual = float(overall["total_actual"].iloc[0])
    predicted = float(overall["total_predicted"].iloc[0])
    return abs(predicted - actual) / max(actual, 1.0)
