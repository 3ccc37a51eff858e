"""BG/NBD and Gamma-Gamma: agreement with lifetimes, recovery, closed forms, errors, backtest."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.generate_data import beta_geometric_nbd_model
from scipy.special import betaln, gammaln, hyp2f1

from orchestration.predictive.btyd import (
    BgNbdFit,
    BtydFitError,
    GammaGammaFit,
    _bgnbd_loglik,
    _group,
    backtest,
    calibration_holdout_summary,
    customer_lifetime_value,
    fit_bgnbd,
    fit_gamma_gamma,
)

# CDNOW estimates (Fader, Hardie & Lee 2005), the parameters lifetimes' own examples use.
BGNBD_TRUE = {"r": 0.24, "alpha": 4.41, "a": 0.79, "b": 2.43}
GG_TRUE = {"p": 6.25, "q": 3.74, "v": 15.44}


def simulate_spend(
    rng: np.random.Generator, frequency: np.ndarray, p: float, q: float, v: float
) -> np.ndarray:
    """Gamma-Gamma mean spend over ``frequency`` purchases; 0 for customers without any.

    Each customer's rate nu ~ Gamma(q, rate v); each spend ~ Gamma(p, rate nu), so the sum of
    x spends is Gamma(p x, rate nu).
    """
    x = np.maximum(frequency, 1)
    nu = rng.gamma(q, 1 / v, size=frequency.size)
    return np.where(frequency > 0, rng.gamma(p * x, 1 / nu) / x, 0.0)


def simulate_bgnbd(
    rng: np.random.Generator, T: np.ndarray, r: float, alpha: float, a: float, b: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact continuous-time BG/NBD draws (frequency, recency) without a per-customer loop.

    Purchases are Poisson(lambda) on (0, T]; after each repeat purchase the customer drops out
    with probability p, so they make min(N(T), K) of them with K ~ Geometric(p). Given N(T) = n,
    the k-th of n arrival times is T times the k-th uniform order statistic, Beta(k, n - k + 1).
    """
    lam = rng.gamma(r, 1 / alpha, size=T.size)
    p = rng.beta(a, b, size=T.size)
    arrivals = rng.poisson(lam * T)
    x = np.minimum(arrivals, rng.geometric(p))
    k = np.maximum(x, 1)
    recency = np.where(x > 0, T * rng.beta(k, arrivals - x + 1), 0.0)
    return x.astype(np.float64), recency


@pytest.fixture(scope="module")
def lifetimes_sample() -> pd.DataFrame:
    """3,000 customers from lifetimes' own generator, with varied T and a spend column."""
    np.random.seed(20_240_601)  # lifetimes' generator draws from the global numpy state
    T = np.random.randint(20, 105, size=3000).astype(np.float64)
    data = beta_geometric_nbd_model(T=T, size=3000, **BGNBD_TRUE)
    data["monetary"] = simulate_spend(
        np.random.default_rng(7), data["frequency"].to_numpy(), **GG_TRUE
    )
    return data


# ---------------------------------------------------------------------------------------------
# Agreement with lifetimes
# ---------------------------------------------------------------------------------------------


def test_bgnbd_matches_lifetimes(lifetimes_sample: pd.DataFrame) -> None:
    x, t_x, T = (lifetimes_sample[c].to_numpy() for c in ("frequency", "recency", "T"))
    ours = fit_bgnbd(x, t_x, T)
    # Ours is the true optimum: the fit ends on a Newton step below 1e-7 on a positive-definite
    # Hessian, and its log-likelihood is not below lifetimes'. lifetimes' tol is BFGS's gradient
    # norm: 1e-8 reaches the optimum to ~1e-12. At 1e-9 BFGS stops on precision loss with the
    # gradient near 7e-9 on some CPUs (numpy's SIMD sums differ in the last bits), and lifetimes
    # raises ConvergenceError.
    reference = BetaGeoFitter().fit(x, t_x, T, tol=1e-8)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(ours, name) == pytest.approx(reference.params_[name], rel=1e-3), name
    # lifetimes reports the mean negative log-likelihood with time divided by max(T); in days
    # the total differs by sum(frequency) * log(max T) (the Jacobian of the time rescaling).
    reference_ll = -reference._negative_log_likelihood_ * x.size - x.sum() * np.log(T.max())
    assert ours.log_likelihood == pytest.approx(reference_ll, rel=1e-9)
    assert ours.log_likelihood >= reference_ll - 1e-6
    assert ours.n_customers == 3000


def test_penalised_bgnbd_matches_lifetimes(lifetimes_sample: pd.DataFrame) -> None:
    # The penalty acts on alpha in lifetimes' rescaled time; matching it needs the same scaling.
    x, t_x, T = (lifetimes_sample[c].to_numpy() for c in ("frequency", "recency", "T"))
    ours = fit_bgnbd(x, t_x, T, penalizer=0.1)
    reference = BetaGeoFitter(penalizer_coef=0.1).fit(x, t_x, T, tol=1e-9)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(ours, name) == pytest.approx(reference.params_[name], rel=1e-3), name


def test_gamma_gamma_matches_lifetimes(lifetimes_sample: pd.DataFrame) -> None:
    x, m = lifetimes_sample["frequency"].to_numpy(), lifetimes_sample["monetary"].to_numpy()
    ours = fit_gamma_gamma(x, m)
    repeat = x > 0
    # lifetimes' default tol=1e-7 lands within ~3e-8 relative of our (Newton-certified)
    # optimum; tighter tolerances make its BFGS give up on precision loss for this sample.
    reference = GammaGammaFitter().fit(x[repeat], m[repeat])
    for name in ("p", "q", "v"):
        assert getattr(ours, name) == pytest.approx(reference.params_[name], rel=1e-3), name
    # No time scaling here: the total is simply -n times lifetimes' mean.
    reference_ll = -reference._negative_log_likelihood_ * repeat.sum()
    assert ours.log_likelihood == pytest.approx(reference_ll, rel=1e-9)
    assert ours.log_likelihood >= reference_ll - 1e-6
    assert ours.n_customers == repeat.sum()


def test_predictions_match_lifetimes(lifetimes_sample: pd.DataFrame) -> None:
    """Same parameters in, same P(alive), expected purchases, spend and CLV out."""
    x, t_x, T, m = (lifetimes_sample[c] for c in ("frequency", "recency", "T", "monetary"))
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(BGNBD_TRUE)
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # as fit() sets it
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series(GG_TRUE)
    ours = bgnbd_at(**BGNBD_TRUE)
    gg = GammaGammaFit(**GG_TRUE, log_likelihood=0.0, n_customers=0, iterations=0, penalizer=0.0)

    np.testing.assert_allclose(
        ours.probability_alive(x, t_x, T),
        bgf.conditional_probability_alive(x.to_numpy(), t_x.to_numpy(), T.to_numpy()),
        rtol=1e-12,
    )
    for t in (1.0, 30.0, 365.0):
        np.testing.assert_allclose(
            ours.expected_purchases(t, x, t_x, T),
            bgf.conditional_expected_number_of_purchases_up_to_time(
                t, x.to_numpy(), t_x.to_numpy(), T.to_numpy()
            ),
            rtol=1e-10,
        )
    np.testing.assert_allclose(
        gg.expected_average_value(x, m),
        ggf.conditional_expected_average_profit(x, m),
        rtol=1e-12,
    )
    assert gg.expected_average_value(0, 0) == pytest.approx(15.44 * 6.25 / (3.74 - 1))
    np.testing.assert_allclose(
        customer_lifetime_value(ours, gg, x, t_x, T, m, months=12, discount_rate_monthly=0.01),
        ggf.customer_lifetime_value(bgf, x, t_x, T, m, time=12, discount_rate=0.01, freq="D"),
        rtol=1e-10,
    )


# ---------------------------------------------------------------------------------------------
# Recovery of known parameters
# ---------------------------------------------------------------------------------------------

# 200,000 customers observed 30..730 days. Relative standard errors (inverse Hessian) are
# r 0.5%, alpha 0.8%, a 1.8%, b 2.4%, and on the ~90,000 repeat buyers' spend p 2.0%, q 0.7%,
# v 2.7%: 10% is at least 3.7 standard errors for every parameter.
RECOVERY_RTOL = 0.10


def test_recovers_known_parameters() -> None:
    rng = np.random.default_rng(11)
    truth = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5}
    T = rng.integers(30, 731, size=200_000).astype(np.float64)
    x, t_x = simulate_bgnbd(rng, T, **truth)
    fit = fit_bgnbd(x, t_x, T)
    for name, value in truth.items():
        assert getattr(fit, name) == pytest.approx(value, rel=RECOVERY_RTOL), name

    spend_truth = {"p": 6.0, "q": 3.0, "v": 40.0}
    gg = fit_gamma_gamma(x, simulate_spend(rng, x, **spend_truth))
    for name, value in spend_truth.items():
        assert getattr(gg, name) == pytest.approx(value, rel=RECOVERY_RTOL), name


# ---------------------------------------------------------------------------------------------
# Closed forms and the grouped likelihood
# ---------------------------------------------------------------------------------------------


def bgnbd_at(r: float, alpha: float, a: float, b: float) -> BgNbdFit:
    """A BG/NBD model at fixed parameters, for closed forms."""
    return BgNbdFit(
        r=r, alpha=alpha, a=a, b=b, log_likelihood=0.0, n_customers=0, iterations=0, penalizer=0.0
    )


def test_probability_alive_by_hand() -> None:
    fit = bgnbd_at(r=0.5, alpha=10.0, a=0.8, b=2.0)
    # x = 2, t_x = 30, T = 90: 1 / (1 + (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x))^(r + x))
    by_hand = 1 / (1 + (0.8 / (2.0 + 2 - 1)) * ((10.0 + 90) / (10.0 + 30)) ** (0.5 + 2))
    assert by_hand == pytest.approx(0.27508565, rel=1e-7)
    assert fit.probability_alive(2, 30, 90) == pytest.approx(by_hand, rel=1e-12)
    # Without a repeat purchase the model has given no chance to drop out.
    assert fit.probability_alive(0, 0, 90) == 1.0
    np.testing.assert_allclose(
        fit.probability_alive(np.array([0, 2]), np.array([0, 30]), np.array([90, 90])),
        [1.0, by_hand],
        rtol=1e-12,
    )


def _bgnbd_row_loglik(fit: BgNbdFit, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """FHL (2005) eq. 6, one row at a time, written independently of the library's algebra."""
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    rows = []
    for xi, ti, Ti in zip(x, t_x, T, strict=True):
        poisson = gammaln(r + xi) - gammaln(r) + r * math.log(alpha)
        alive = betaln(a, b + xi) - betaln(a, b) + poisson - (r + xi) * math.log(alpha + Ti)
        if xi == 0:
            rows.append(alive)
            continue
        dead = betaln(a + 1, b + xi - 1) - betaln(a, b) + poisson - (r + xi) * math.log(alpha + ti)
        rows.append(np.logaddexp(alive, dead))
    return np.array(rows)


def test_grouped_likelihood_equals_row_by_row() -> None:
    rng = np.random.default_rng(5)
    T = rng.integers(30, 61, size=400).astype(np.float64)
    x, t_x = simulate_bgnbd(rng, T, r=0.6, alpha=20.0, a=0.8, b=2.5)
    t_x = np.ceil(t_x)  # whole days, so many customers share a (frequency, recency, T) row
    groups = _group(x, t_x, T)
    assert groups.x.size == np.unique(np.column_stack([x, t_x, T]), axis=0).shape[0] < 300
    assert groups.weight.sum() == 400
    assert groups.x_level_weight.sum() == 400
    fixed = bgnbd_at(r=0.5, alpha=10.0, a=0.8, b=2.0)
    grouped, _ = _bgnbd_loglik(np.array([0.5, 10.0, 0.8, 2.0]), groups)
    assert grouped == pytest.approx(_bgnbd_row_loglik(fixed, x, t_x, T).sum(), rel=1e-12)

    fit = fit_bgnbd(x, t_x, T)
    rows = _bgnbd_row_loglik(fit, x, t_x, T)
    assert fit.log_likelihood == pytest.approx(rows.sum(), rel=1e-12)
    # The optimum of the grouped likelihood is the optimum of the row-by-row one.
    for name in ("r", "alpha", "a", "b"):
        for factor in (0.99, 1.01):
            moved = dataclasses.replace(fit, **{name: getattr(fit, name) * factor})
            assert _bgnbd_row_loglik(moved, x, t_x, T).sum() < rows.sum(), (name, factor)
    # Duplicating every customer doubles the likelihood and leaves the optimum in place.
    doubled = fit_bgnbd(np.tile(x, 2), np.tile(t_x, 2), np.tile(T, 2))
    assert doubled.log_likelihood == pytest.approx(2 * fit.log_likelihood, rel=1e-12)
    assert doubled.r == pytest.approx(fit.r, rel=1e-6)
    assert doubled.b == pytest.approx(fit.b, rel=1e-6)


def test_gamma_gamma_likelihood_row_by_row() -> None:
    rng = np.random.default_rng(9)
    x = rng.integers(0, 6, size=300).astype(np.float64)
    m = np.round(simulate_spend(rng, x, p=4.0, q=3.0, v=30.0), 1)
    fit = fit_gamma_gamma(x, m)
    used = (x > 0) & (m > 0)
    xs, ms = x[used], m[used]
    p, q, v = fit.p, fit.q, fit.v
    # Hardie, note 025, eq. 1a: the density of a customer's mean spend given x purchases.
    rows = (
        gammaln(p * xs + q)
        - gammaln(p * xs)
        - gammaln(q)
        + q * np.log(v)
        + (p * xs - 1) * np.log(ms)
        + p * xs * np.log(xs)
        - (p * xs + q) * np.log(v + ms * xs)
    )
    assert fit.n_customers == used.sum()
    assert fit.log_likelihood == pytest.approx(rows.sum(), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

GOOD = {"frequency": [0, 1, 2, 3, 1], "recency": [0, 5, 9, 20, 3], "T": [10, 10, 30, 40, 5]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"frequency": [0, -1, 2, 3, 1]}, "frequency has 1 negative"),
        ({"recency": [0, 5, 9, 20, 6]}, "recency exceeds T for 1 customers"),
        ({"recency": [1, 5, 9, 20, 3]}, "frequency 0 but recency != 0"),
        ({"T": [10, 10, np.nan, 40, 5]}, "T has 1 non-finite"),
        ({"frequency": [0, 1.5, 2, 3, 1]}, "non-integer"),
        ({"T": [10, 10, 30, 40]}, "differ in length"),
        ({"frequency": [], "recency": [], "T": []}, "empty input"),
        ({"frequency": [0, 1, 2], "recency": [0, 5, 9], "T": [10, 10, 30]}, "at least 4"),
        ({"frequency": [0] * 5, "recency": [0] * 5}, "no customer has a repeat purchase"),
    ],
)
def test_bgnbd_rejects_invalid_input(change: dict, message: str) -> None:
    with pytest.raises(BtydFitError, match=message):
        fit_bgnbd(**{**GOOD, **change})


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [
        ([1, 2, 3, 4], [10.0, -1.0, 5.0, 7.0], "monetary has 1 negative"),
        ([0, 2, 3, 4], [10.0, 1.0, 5.0, 7.0], "frequency 0 but monetary != 0"),
        ([0, 2, 3, 4], [0.0, 0.0, 5.0, 7.0], "2 repeat buyers with positive spend"),
        ([], [], "empty input"),
    ],
)
def test_gamma_gamma_rejects_invalid_input(frequency: list, monetary: list, message: str) -> None:
    with pytest.raises(BtydFitError, match=message):
        fit_gamma_gamma(frequency, monetary)


def test_unconverged_fits_raise(lifetimes_sample: pd.DataFrame) -> None:
    x, t_x, T, m = (
        lifetimes_sample[c].to_numpy() for c in ("frequency", "recency", "T", "monetary")
    )
    with pytest.raises(BtydFitError, match="maxiter=1") as raised:
        fit_bgnbd(x, t_x, T, maxiter=1)
    # Why, as fields for the report to word: the limit and the last parameters.
    assert raised.value.fields["reason"] == "iteration_limit"
    assert raised.value.fields["maxiter"] == 1
    assert sorted(raised.value.fields["parameters"]) == ["a", "alpha", "b", "r"]
    with pytest.raises(BtydFitError, match="maxiter=1"):
        fit_gamma_gamma(x, m, maxiter=1)
    # Identical spends leave no spread to attribute to customers or purchases: the likelihood
    # keeps rising as p, q and v grow without bound, so there is no optimum to report. Where
    # L-BFGS-B stops differs between CPUs (short of the search bound or at it); either way the
    # likelihood is still rising there, which is no boundary fit.
    no_optimum = "Gamma-Gamma fit did not converge.*the likelihood still rises"
    with pytest.raises(BtydFitError, match=no_optimum):
        fit_gamma_gamma(x, np.where(x > 0, 20.0, 0.0))
    with pytest.raises(BtydFitError, match="penalizer"):
        fit_bgnbd(x, t_x, T, penalizer=-1.0)


# ---------------------------------------------------------------------------------------------
# Boundary fits: the likelihood levels off towards 0 or infinity
# ---------------------------------------------------------------------------------------------


def few_repeat_buyers(repeaters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """150 buyers whose first purchase was 30..364 days ago; the first ``repeaters`` bought
    once more, halfway. With so few repeats nothing tells a dropout rate from its spread."""
    T = 30.0 + (np.arange(150) * 53) % 335
    frequency = np.zeros(150)
    recency = np.zeros(150)
    frequency[:repeaters] = 1
    recency[:repeaters] = np.floor(T[:repeaters] / 2)
    return frequency, recency, T


@pytest.mark.parametrize("repeaters", [1, 3])
def test_few_repeat_buyers_give_a_boundary_fit_at_lifetimes_maximum(repeaters: int) -> None:
    x, t_x, T = few_repeat_buyers(repeaters)
    ours = fit_bgnbd(x, t_x, T)
    assert ours.boundary is not None and ours.boundary.running == ("a", "b")
    assert "a, b run towards 0 or infinity" in ours.boundary_reason
    # lifetimes' BFGS (default tol; a tighter one reports precision loss on the ridge) stops
    # on the same ridge, a large and b small, without complaint: its log-likelihood is the
    # bounded maximum, which ours reaches and never falls below.
    reference = BetaGeoFitter().fit(x, t_x, T)
    assert reference.params_["a"] > 100 and reference.params_["b"] < 0.01
    reference_ll = -reference._negative_log_likelihood_ * x.size - x.sum() * np.log(T.max())
    assert ours.log_likelihood == pytest.approx(reference_ll, abs=1e-5)
    assert ours.log_likelihood >= reference_ll - 1e-6
    # r and alpha are identified, and the predictions along the ridge are the same: the
    # repeaters' P(alive) ~ b / a is near 0 at both points (below 1e-6), where they differ.
    assert ours.r == pytest.approx(reference.params_["r"], rel=1e-3)
    assert ours.alpha == pytest.approx(reference.params_["alpha"], rel=1e-3)
    expected = reference.conditional_expected_number_of_purchases_up_to_time(90, x, t_x, T)
    np.testing.assert_allclose(
        ours.expected_purchases(90, x, t_x, T), expected, rtol=1e-3, atol=1e-6
    )
    alive = reference.conditional_probability_alive(x, t_x, T)
    np.testing.assert_allclose(ours.probability_alive(x, t_x, T), alive, atol=1e-6)


def test_buyers_who_never_drop_out_give_the_poisson_limit() -> None:
    # 150 buyers who each bought every 30 days since their first purchase: no one drops out
    # (a -> 0) and everyone buys at one rate (r, alpha -> infinity with r / alpha fixed).
    # lifetimes raises ConvergenceError here; the limit is a Poisson process whose rate's
    # maximum-likelihood estimate is total repeat purchases / total days observed.
    T = 60.0 + (np.arange(150) * 37) % 340
    x = np.floor(T / 30)
    t_x = 30 * x
    fit = fit_bgnbd(x, t_x, T)
    assert fit.boundary is not None and fit.boundary.at_search_edge
    # a must run to 0; r and alpha may run off together, and b, unidentified once a is 0, may
    # drift: which reach the search's edge first varies with the CPU's last bits.
    assert "a" in fit.boundary.running and set(fit.boundary.running) <= {"r", "alpha", "a", "b"}
    running = ", ".join(fit.boundary.running)
    assert f"as {running} run towards 0 or infinity (stopped at the edge" in fit.boundary_reason
    rate_per_day = x.sum() / T.sum()
    assert fit.r / fit.alpha == pytest.approx(rate_per_day, rel=1e-4)
    np.testing.assert_allclose(fit.probability_alive(x, t_x, T), 1.0)
    np.testing.assert_allclose(fit.expected_purchases(90, x, t_x, T), 90 * rate_per_day, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# Calibration / holdout summary and backtest
# ---------------------------------------------------------------------------------------------


def test_calibration_holdout_summary_by_hand() -> None:
    d = dt.date
    purchases = pd.DataFrame(
        [
            # a: two orders on Jan 1 (one purchase day), Jan 5, two on Jan 10; two holdout days.
            ("a", d(2024, 1, 1), 10.0),
            ("a", d(2024, 1, 1), 5.0),
            ("a", d(2024, 1, 5), 20.0),
            ("a", d(2024, 1, 10), 7.0),
            ("a", d(2024, 1, 10), 3.0),
            ("a", d(2024, 2, 3), 4.0),
            ("a", d(2024, 2, 10), 1.0),
            ("a", d(2024, 2, 10), 2.0),
            ("a", d(2024, 3, 5), 9.0),  # after holdout_end: ignored
            # b: two orders on one day only.
            ("b", d(2024, 1, 20), 8.0),
            ("b", d(2024, 1, 20), 2.0),
            # c: first buys after calibration_end: excluded.
            ("c", d(2024, 2, 5), 30.0),
            ("c", d(2024, 2, 6), 30.0),
            # d: first buys on calibration_end, again on holdout_end (both bounds inclusive).
            ("d", d(2024, 1, 31), 12.0),
            ("d", d(2024, 2, 29), 6.0),
        ],
        columns=["customer_id", "purchase_date", "amount"],
    )
    summary = calibration_holdout_summary(purchases, d(2024, 1, 31), d(2024, 2, 29))
    expected = pd.DataFrame(
        {
            # a: days Jan 1, 5, 10 -> 2 repeat days, recency 9, T 30, (20 + 10) / 2 = 15.
            "frequency_cal": [2, 0, 0],
            "recency_cal": [9, 0, 0],
            "T_cal": [30, 11, 0],
            "monetary_cal": [15.0, 0.0, 0.0],
            "frequency_holdout": [2, 0, 1],
            "duration_holdout": [29, 29, 29],  # Jan 31 -> Feb 29, 2024 (a leap year)
        },
        index=pd.Index(["a", "b", "d"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)
    with pytest.raises(ValueError, match="not after calibration_end"):
        calibration_holdout_summary(purchases, d(2024, 1, 31), d(2024, 1, 31))


def test_backtest_by_hand() -> None:
    fit = bgnbd_at(**BGNBD_TRUE)
    summary = pd.DataFrame(
        {
            "frequency_cal": [0, 1, 1, 8, 12],
            "recency_cal": [0, 10, 40, 50, 59],
            "T_cal": [30, 60, 60, 60, 60],
            "monetary_cal": [0.0, 5.0, 5.0, 5.0, 5.0],
            "frequency_holdout": [0, 2, 0, 3, 5],
            "duration_holdout": [30, 30, 30, 30, 30],
        },
        index=pd.Index(list("vwxyz"), name="customer_id"),
    )
    result = backtest(fit, summary)
    predicted = fit.expected_purchases(
        30.0, summary["frequency_cal"], summary["recency_cal"], summary["T_cal"]
    )
    np.testing.assert_allclose(result.customers["predicted_holdout"], predicted, rtol=1e-12)
    actual = np.array([0, 2, 0, 3, 5])
    assert result.mean_absolute_error == pytest.approx(np.mean(np.abs(predicted - actual)))
    assert result.total_actual == 10
    assert result.total_predicted == pytest.approx(predicted.sum())
    table = result.by_frequency
    assert list(table.index) == ["0", "1", "7+"]  # only buckets with customers, in order
    assert list(table["customers"]) == [1, 2, 2]
    np.testing.assert_allclose(table["actual_mean"], [0.0, 1.0, 4.0])
    np.testing.assert_allclose(
        table["predicted_mean"],
        [predicted[0], predicted[1:3].mean(), predicted[3:].mean()],
        rtol=1e-12,
    )


def test_expected_purchases_where_the_hypergeometric_term_overflows():
    """For a heavy buyer over long horizons 2F1 overflows and Euler's transformation takes over
    (for those horizons only): the expected purchases stay finite, grow with the horizon and
    keep growing more slowly, with no jump where the two forms meet."""
    fit = bgnbd_at(r=0.24, alpha=7.07, a=0.0757, b=0.4626)
    x, t_x, age = 400.0, 400.0, 730.0
    horizons = np.arange(100.0, 4000.0, 100.0)
    z = horizons / (fit.alpha + age + horizons)
    overflows = ~np.isfinite(hyp2f1(fit.r + x, fit.b + x, fit.a + fit.b + x - 1, z))
    assert overflows.any() and not overflows.all()
    expected = fit.expected_purchases(horizons, x, t_x, age)
    assert np.isfinite(expected).all() and (expected > 0).all()
    growth = np.diff(expected) / expected[1:]
    assert (growth > 0).all() and (np.diff(growth) < 0).all()


def test_expected_purchases_when_a_plus_b_is_below_one():
    """With a + b < 1 the hypergeometric term is negative for x = 0; the sign must survive.

    Checked against a simulation of the model itself: customers with no repeat purchase in
    (0, T], counting their purchases in (T, T + t].
    """
    fit = bgnbd_at(r=0.245, alpha=6.61, a=0.0526, b=0.319)
    horizon, age, n = 90.0, 11.0, 300_000
    predicted = fit.expected_purchases(horizon, 0.0, 0.0, age)
    rng = np.random.default_rng(7)
    rate = rng.gamma(fit.r, 1 / fit.alpha, n)
    dropout = rng.beta(fit.a, fit.b, n)
    time = np.zeros(n)
    active = np.ones(n, bool)
    before = np.zeros(n, np.int64)
    within = np.zeros(n, np.int64)
    while active.any():
        time = np.where(active, time + rng.exponential(1 / np.maximum(rate, 1e-300)), time)
        active &= time <= age + horizon
        before += active & (time <= age)
        within += active & (time > age)
        active &= rng.random(n) >= dropout
    quiet = within[before == 0]
    standard_error = quiet.std() / np.sqrt(len(quiet))
    assert np.isfinite(predicted)
    assert abs(predicted - quiet.mean()) < 4 * standard_error
