"""BG/NBD purchase counts and Gamma-Gamma spend: exact maximum likelihood, CLV and backtests.

The likelihoods, parameterisations and penalisers are those of lifetimes 0.11.3
(``BetaGeoFitter``, ``GammaGammaFitter``), which the tests use as the reference. lifetimes
differentiates a per-row likelihood with autograd and is far too slow for a million customers;
here identical rows are collapsed into weighted groups (most customers share a
(frequency, recency, T) pattern once time is counted in days) and the gradient is analytic, so a
fit over a million customers takes seconds.

A fit ends one of three ways. It converges on an interior maximum. Or the likelihood keeps
rising towards the edge of the parameter space (a parameter running to 0 or infinity, as BG/NBD's
a and b do when few customers repeat): the fit is returned flagged with ``boundary``, at
the point where the likelihood stops rising, which is lifetimes' answer on such data too. Or it
raises ``BtydFitError`` (invalid input, iteration limit, non-finite point): a silently wrong
parameter set would flow straight into every CLV figure downstream.

Time is in days throughout: ``frequency`` is the number of repeat purchase days, ``recency`` the
days from the first to the last purchase day, ``T`` the days from the first purchase day to the
as-of date and ``monetary`` the mean spend over the repeat purchase days (0 without any).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.linalg import LinAlgError
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import OptimizeResult, minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

FloatArray = NDArray[np.float64]

# Calibration-frequency buckets of the backtest table; 7+ pools the thin tail.
FREQUENCY_BUCKETS = ("0", "1", "2", "3", "4", "5", "6", "7+")

# Log-parameters are searched in [-20, 20] (parameters in [2e-9, 5e8] on the fitting scale).
# Further out, log-gamma differences such as lgamma(a + b) - lgamma(a + b + x) lose more than
# 1e-6 to cancellation and the line search stalls on the noise. A parameter within a factor e
# of that edge is at it: the data do not identify the model, which is flagged as a boundary fit.
_LOG_BOUND = 20.0
_NEAR_BOUND = 1.0
# L-BFGS-B only has to bring the search near the optimum; Newton steps then finish it, and the
# fit counts as converged when a Newton step on a positive-definite Hessian moves no
# log-parameter by more than _NEWTON_TOL (1e-7 relative in the parameter itself).
_FTOL = 1e-12
_GTOL = 1e-8
_NEWTON_STEPS = 6
_NEWTON_TOL = 1e-7
# Central-difference step for the Hessian, on the analytic gradient in log-parameter space.
_HESSIAN_STEP = 1e-5
# Where Newton steps do not settle, the fit is at the likelihood's edge (levelling off as a
# parameter runs to 0 or infinity) when the gradient of the per-customer objective in
# log-parameters is below this; a likelihood still rising there is a failure (identical
# spends make it unbounded, with gradients of 1e3 and more). The parameters named as running
# off are those with a share of at least _FLAT_SHARE in a direction whose curvature is below
# _FLAT_CURVATURE (an identified fit's least curvature: 6.5e-3 on 3,000 CDNOW-like customers).
_BOUNDARY_GTOL = 1e-3
# Fresh L-BFGS-B starts after a failed line search (150 buyers, 3 of whom repeat, needed one).
_RESTARTS = 3
_FLAT_CURVATURE = 1e-6
_FLAT_SHARE = 0.3


# Why a fit failed, as BtydFitError.fields["reason"]: the search ran out of iterations, ended
# where the likelihood is not finite, or stopped where it still rises; or the input is invalid
# (fields: the message as "error", since it names an upstream bug rather than a data trait).
ITERATION_LIMIT = "iteration_limit"  # maxiter, parameters
NON_FINITE_POINT = "non_finite_point"
LIKELIHOOD_STILL_RISES = "likelihood_still_rises"  # iterations, parameters, gradient
INVALID_INPUT = "invalid_input"  # error


class BtydFitError(ValueError):
    """Invalid input to, or a failed fit of, a buy-till-you-die model; ``fields`` says why, as
    fields (``reason``: one of the reasons above, and the values its words need)."""

    def __init__(self, message: str, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields: dict[str, Any] = (
            dict(fields) if fields else {"reason": INVALID_INPUT, "error": message}
        )


# ---------------------------------------------------------------------------------------------
# Input checks and grouping
# ---------------------------------------------------------------------------------------------


def _as_vectors(**named: ArrayLike) -> list[FloatArray]:
    """Validated 1-D float copies; errors name the offending input so the caller can fix it."""
    vectors = [np.asarray(value, dtype=np.float64).ravel() for value in named.values()]
    names = list(named)
    if any(v.size != vectors[0].size for v in vectors):
        sizes = ", ".join(f"{n}={v.size}" for n, v in zip(names, vectors, strict=True))
        raise BtydFitError(f"inputs differ in length: {sizes}")
    if vectors[0].size == 0:
        raise BtydFitError("empty input: no customers to fit")
    for name, vector in zip(names, vectors, strict=True):
        if not np.all(np.isfinite(vector)):
            raise BtydFitError(f"{name} has {np.sum(~np.isfinite(vector))} non-finite values")
        if np.any(vector < 0):
            raise BtydFitError(f"{name} has {np.sum(vector < 0)} negative values")
    return vectors


def _check_frequency(frequency: FloatArray) -> None:
    if np.any(frequency != np.round(frequency)):
        raise BtydFitError("frequency must count purchase days; it has non-integer values")


def _check_bgnbd_inputs(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, t_x, age = _as_vectors(frequency=frequency, recency=recency, T=T)
    _check_frequency(x)
    if np.any(t_x > age):
        raise BtydFitError(f"recency exceeds T for {np.sum(t_x > age)} customers")
    if np.any((x == 0) & (t_x != 0)):
        raise BtydFitError(
            f"{np.sum((x == 0) & (t_x != 0))} customers have frequency 0 but recency != 0 "
            "(recency is 0 for a customer without repeat purchases)"
        )
    return x, t_x, age


def _check_minimum(n_customers: int, n_params: int, what: str) -> None:
    if n_customers < n_params:
        raise BtydFitError(
            f"{n_customers} {what}: at least {n_params} are needed to identify "
            f"{n_params} parameters"
        )


class _Groups(NamedTuple):
    """Distinct rows with their counts, plus the distinct frequencies for x-only terms."""

    x: FloatArray
    columns: tuple[FloatArray, ...]
    weight: FloatArray
    x_levels: FloatArray
    x_level_weight: FloatArray


def _group(x: FloatArray, *columns: FloatArray) -> _Groups:
    """Collapse identical (x, *columns) rows, sorted by x first so x levels are runs."""
    keys = (x, *columns)
    order = np.lexsort(keys[::-1])
    sorted_keys = [k[order] for k in keys]
    starts = np.zeros(order.size, dtype=bool)
    starts[0] = True
    for key in sorted_keys:
        starts[1:] |= key[1:] != key[:-1]
    first = np.flatnonzero(starts)
    weight = np.diff(np.append(first, order.size)).astype(np.float64)
    gx = sorted_keys[0][first]
    level_first = np.flatnonzero(np.append(True, gx[1:] != gx[:-1]))
    return _Groups(
        x=gx,
        columns=tuple(k[first] for k in sorted_keys[1:]),
        weight=weight,
        x_levels=gx[level_first],
        x_level_weight=np.add.reduceat(weight, level_first),
    )


def _hessian(
    objective: Callable[[FloatArray], tuple[float, FloatArray]], log_params: FloatArray
) -> FloatArray:
    """Symmetrised central differences of the analytic gradient."""
    shifts = _HESSIAN_STEP * np.eye(log_params.size)
    hessian = np.array(
        [objective(log_params + e)[1] - objective(log_params - e)[1] for e in shifts]
    ) / (2 * _HESSIAN_STEP)
    return (hessian + hessian.T) / 2


def _newton_polish(
    objective: Callable[[FloatArray], tuple[float, FloatArray]], log_params: FloatArray
) -> tuple[FloatArray, int] | None:
    """Finish the optimum with Newton steps; None unless they converge on a strict minimum.

    L-BFGS-B stops when its line search can no longer see the objective fall, which near the
    optimum happens at floating-point precision and which it reports as a failure whether or
    not it is there. A small Newton step on a positive-definite Hessian is the proof it is.
    """
    for step_count in range(1, _NEWTON_STEPS + 1):
        grad = objective(log_params)[1]
        hessian = _hessian(objective, log_params)
        if not (np.all(np.isfinite(hessian)) and np.all(np.isfinite(grad))):
            return None
        try:
            factor = cho_factor(hessian)
        except LinAlgError:
            return None
        step = cho_solve(factor, grad)
        log_params = log_params - step
        if not np.all(np.isfinite(log_params)):
            return None
        if np.max(np.abs(step)) <= _NEWTON_TOL:
            return log_params, step_count
    return None


@dataclass(frozen=True)
class Boundary:
    """Why a fit has no interior maximum, as fields: the parameters the data do not identify,
    running towards 0 or infinity (none: the likelihood levels off along a flat ridge), whether
    the search stopped at the edge of its range, and the parameters where it stopped."""

    running: tuple[str, ...]
    at_search_edge: bool
    parameters: Mapping[str, float] = field(default_factory=dict)

    def text(self) -> str:
        """In English, for logs and the fit's detail column."""
        verb = "runs" if len(self.running) == 1 else "run"
        levels_off = (
            f"as {', '.join(self.running)} {verb} towards 0 or infinity"
            if self.running
            else "along a flat ridge"
        )
        stop = " (stopped at the edge of the search range)" if self.at_search_edge else ""
        return (
            f"no interior maximum: the likelihood levels off {levels_off}{stop} at "
            f"{described(self.parameters)}; the data do not identify them (a penalizer_coef "
            "may give an interior fit)"
        )


def described(parameters: Mapping[str, float]) -> str:
    """Parameters as "r=0.2431, alpha=4.41", four significant digits."""
    return ", ".join(f"{name}={value:.4g}" for name, value in parameters.items())


class _Optimum(NamedTuple):
    params: FloatArray
    iterations: int
    boundary: Boundary | None


def _maximise(
    loglik: Callable[[FloatArray], tuple[float, FloatArray]],
    start: FloatArray,
    *,
    names: tuple[str, ...],
    n_customers: int,
    penalizer: float,
    maxiter: int,
    model: str,
) -> _Optimum:
    """Minimise lifetimes' objective, -loglik/n + penalizer * sum(params**2), over log-params.

    Dividing by n keeps the objective and its gradient of order one whatever the sample size,
    so one set of tolerances fits every data set. Where the objective still falls towards the
    edge of the parameter space, the optimum is the point where L-BFGS-B can no longer make it
    fall, returned with the reason; elsewhere a failure raises BtydFitError.
    """
    if not (np.isfinite(penalizer) and penalizer >= 0):
        raise BtydFitError(f"penalizer must be a finite number >= 0, got {penalizer}")

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(log_params)
        value, grad = loglik(params)
        penalty = penalizer * float(params @ params)
        return -value / n_customers + penalty, -grad * params / n_customers + (
            2 * penalizer * params**2
        )

    def named(params: FloatArray) -> dict[str, float]:
        return {n: float(v) for n, v in zip(names, params, strict=True)}

    def run_lbfgsb(log_start: FloatArray) -> OptimizeResult:
        return minimize(
            objective,
            log_start,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * start.size,
            options={"maxiter": maxiter, "ftol": _FTOL, "gtol": _GTOL},
        )

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result: OptimizeResult = run_lbfgsb(np.log(start))
        iterations = int(result.nit)
        # ABNORMAL: the line search failed, typically with parameters pinned on the search
        # bound of a ridge; a fresh start just inside the bound goes on from there.
        for _ in range(_RESTARTS):
            if result.status != 2 or not np.all(np.isfinite(result.x)):
                break
            result = run_lbfgsb(np.clip(result.x, -_LOG_BOUND + 0.01, _LOG_BOUND - 0.01))
            iterations += int(result.nit)
        if result.status == 1:  # iteration or evaluation limit
            last = named(np.exp(result.x))
            raise BtydFitError(
                f"{model} fit did not converge within maxiter={maxiter} iterations "
                f"({result.message}; last parameters {described(last)})",
                {"reason": ITERATION_LIMIT, "maxiter": maxiter, "parameters": last},
            )
        if not (np.isfinite(result.fun) and np.all(np.isfinite(result.x))):
            raise BtydFitError(
                f"{model} fit ended at a non-finite point: {result.message}",
                {"reason": NON_FINITE_POINT},
            )
        at_edge = np.abs(result.x) >= _LOG_BOUND - _NEAR_BOUND
        polished = None if at_edge.any() else _newton_polish(objective, result.x)
        if polished is None:
            gradient = objective(result.x)[1]
    if polished is not None:
        log_params, newton_steps = polished
        return _Optimum(np.exp(log_params), iterations + newton_steps, None)

    params = np.exp(result.x)
    if not (np.all(np.isfinite(gradient)) and np.max(np.abs(gradient)) <= _BOUNDARY_GTOL):
        largest = float(np.max(np.abs(gradient)))
        raise BtydFitError(
            f"{model} fit did not converge: L-BFGS-B stopped after {iterations} iterations "
            f"({result.message}) at {described(named(params))}, where the likelihood still "
            f"rises (largest gradient component {largest:.2g})",
            {
                "reason": LIKELIHOOD_STILL_RISES,
                "iterations": iterations,
                "parameters": named(params),
                "gradient": largest,
            },
        )
    # The parameters the data do not identify: those moving along the directions in which the
    # objective has (next to) no curvature, and any stopped at the search bound.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        hessian = _hessian(objective, result.x)
    unidentified = at_edge.copy()
    if np.all(np.isfinite(hessian)):
        curvature, directions = np.linalg.eigh(hessian)
        flat = directions[:, curvature <= _FLAT_CURVATURE]
        unidentified |= np.any(np.abs(flat) >= _FLAT_SHARE, axis=1)
    running = tuple(n for n, flag in zip(names, unidentified, strict=True) if flag)
    return _Optimum(params, iterations, Boundary(running, bool(at_edge.any()), named(params)))


# ---------------------------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------------------------


def _log_rising(z: float, x: FloatArray) -> FloatArray:
    """log(z (z + 1) ... (z + x - 1)) = lgamma(z + x) - lgamma(z), 0 for x = 0.

    As lgamma(x) - log B(z, x): scipy's log-beta stays exact when z is huge, where the
    difference of two lgamma values near 1e9 would lose the digits the optimiser needs.
    """
    return np.where(x > 0, gammaln(np.maximum(x, 1)) - betaln(z, np.maximum(x, 1)), 0.0)


def _bgnbd_loglik(params: FloatArray, groups: _Groups) -> tuple[float, FloatArray]:
    """Total BG/NBD log-likelihood (lifetimes' per-customer terms) and its gradient.

    Per customer, log L = A1 + A2 + log(exp(A3) + [x > 0] exp(A4)): alive through T, or dropped
    out right after the last purchase. A1 and A2 depend on x only and are summed per level.
    """
    r, alpha, a, b = params
    xl, wl = groups.x_levels, groups.x_level_weight
    x, (t_x, age), w = groups.x, groups.columns, groups.weight
    n = wl.sum()
    loglik = float(
        wl @ (_log_rising(r, xl) + _log_rising(b, xl) - _log_rising(a + b, xl))
        + n * r * np.log(alpha)
    )
    d_r = float(wl @ (digamma(r + xl) - digamma(r)) + n * np.log(alpha))
    d_alpha = n * r / alpha
    d_a = float(wl @ (digamma(a + b) - digamma(a + b + xl)))
    d_b = float(wl @ (digamma(a + b) + digamma(b + xl) - digamma(b) - digamma(a + b + xl)))

    repeat = x > 0
    r_x = r + x
    log_alpha_T = np.log(alpha + age)
    log_alpha_tx = np.log(alpha + t_x)
    b_x = b + np.maximum(x, 1) - 1
    a3 = -r_x * log_alpha_T
    a4 = np.where(repeat, np.log(a) - np.log(b_x) - r_x * log_alpha_tx, -np.inf)
    total = np.logaddexp(a3, a4)
    share3 = np.exp(a3 - total)
    share4 = np.exp(a4 - total)
    loglik += float(w @ total)
    d_r -= float(w @ (share3 * log_alpha_T + share4 * log_alpha_tx))
    d_alpha -= float(w @ (r_x * (share3 / (alpha + age) + share4 / (alpha + t_x))))
    d_a += float(w @ share4) / a
    d_b -= float(w @ (share4 / b_x))
    return loglik, np.array([d_r, d_alpha, d_a, d_b])


@dataclass(frozen=True)
class BgNbdFit:
    """Fitted BG/NBD parameters (alpha in days) with the conditional predictions built on them.

    ``log_likelihood`` is the total (summed over customers) BG/NBD log-likelihood of the data in
    days at the optimum, without the penalty. lifetimes reports the mean negative
    log-likelihood with time rescaled by max(T); the two differ by sum(frequency) * log(max T).
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    iterations: int
    penalizer: float
    # Why the optimum lies on the edge of the parameter space; None for an interior maximum.
    boundary: Boundary | None = None

    @property
    def boundary_reason(self) -> str | None:
        return self.boundary.text() if self.boundary else None

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(still active | history); 1 without repeat purchases, as the model cannot die then."""
        x, t_x, age = (np.asarray(a, dtype=np.float64) for a in (frequency, recency, T))
        log_odds_dead = (self.r + x) * np.log((self.alpha + age) / (self.alpha + t_x)) + np.log(
            self.a / (self.b + np.maximum(x, 1) - 1)
        )
        return np.where(x == 0, 1.0, expit(-log_odds_dead))

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected purchase days in the next t days given the history (FHL 2005, eq. 10).

        lifetimes' denominator 1 + [x > 0] (a / (b + x - 1)) ((alpha + T) / (alpha + t_x))^(r + x)
        is 1 / P(alive); multiplying by P(alive) avoids its overflow for heavy buyers.
        """
        t, x, age = (np.asarray(a, dtype=np.float64) for a in (t, frequency, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        c1, c2, c3 = r + x, b + x, a + b + x - 1
        z = t / (alpha + age + t)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # 2F1 is negative when a + b + x - 1 < 0 (small a and b, x = 0): carry its sign
            # apart from its log.
            c1, c2, c3, z = np.broadcast_arrays(c1, c2, c3, z)
            hyp = np.asarray(hyp2f1(c1, c2, c3, z))
            sign, ln_hyp = np.array(np.sign(hyp)), np.array(np.log(np.abs(hyp)))
            # Where 2F1 overflows, Euler's transformation gives the same value in finite form.
            # Evaluated there only: 2F1 is most of the time of a night's predictions.
            overflow = ~np.isfinite(hyp)
            if overflow.any():
                o1, o2, o3, oz = c1[overflow], c2[overflow], c3[overflow], z[overflow]
                euler = hyp2f1(o3 - o1, o3 - o2, o3, oz)
                sign[overflow] = np.sign(euler)
                ln_hyp[overflow] = np.log(np.abs(euler)) + (o3 - o1 - o2) * np.log1p(-oz)
        first = (a + b + x - 1) / (a - 1)
        second = 1 - sign * np.exp(ln_hyp + (r + x) * np.log((alpha + age) / (alpha + t + age)))
        return first * second * self.probability_alive(x, recency, age)


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    penalizer: float = 0.0,
    maxiter: int = 1000,
) -> BgNbdFit:
    """Maximum-likelihood BG/NBD fit (Fader, Hardie & Lee 2005) on per-customer day summaries.

    Same objective as lifetimes' ``BetaGeoFitter``: time is divided by max(T) while fitting and
    the penalty is penalizer * (r^2 + alpha_scaled^2 + a^2 + b^2), so penalised fits agree too.
    """
    x, t_x, age = _check_bgnbd_inputs(frequency, recency, T)
    _check_minimum(x.size, 4, "customers")
    if not np.any(x > 0):
        raise BtydFitError("no customer has a repeat purchase: dropout cannot be estimated")
    scale = 1.0 / age.max()
    groups = _group(x, t_x, age)
    scaled = groups._replace(columns=tuple(c * scale for c in groups.columns))
    # r = 1 with r / alpha at the observed repeat rate; a = b = 1 is a flat prior on dropout.
    mean_rate = x.mean() / (age * scale).mean()
    start = np.array([1.0, 1.0 / mean_rate, 1.0, 1.0])
    optimum = _maximise(
        lambda params: _bgnbd_loglik(params, scaled),
        start,
        names=("r", "alpha", "a", "b"),
        n_customers=x.size,
        penalizer=penalizer,
        maxiter=maxiter,
        model="BG/NBD",
    )
    r, alpha_scaled, a, b = optimum.params
    alpha = alpha_scaled / scale
    loglik, _ = _bgnbd_loglik(np.array([r, alpha, a, b]), groups)
    boundary = optimum.boundary
    if boundary is not None:  # where it stopped in days, as the fit's parameters are
        boundary = replace(boundary, parameters={**boundary.parameters, "alpha": float(alpha)})
    return BgNbdFit(
        r=float(r),
        alpha=float(alpha),
        a=float(a),
        b=float(b),
        log_likelihood=loglik,
        n_customers=int(x.size),
        iterations=optimum.iterations,
        penalizer=penalizer,
        boundary=boundary,
    )


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------


def _gamma_gamma_loglik(params: FloatArray, groups: _Groups) -> tuple[float, FloatArray]:
    """Total Gamma-Gamma log-likelihood of the mean spends (lifetimes' terms) and gradient."""
    p, q, v = params
    xl, wl = groups.x_levels, groups.x_level_weight
    x, (m,), w = groups.x, groups.columns, groups.weight
    n = wl.sum()
    pxl = p * xl
    log_xl = np.log(xl)
    loglik = float(wl @ (pxl * log_xl - betaln(pxl, q)) + n * q * np.log(v))
    d_p = float(wl @ (xl * (digamma(pxl + q) - digamma(pxl) + log_xl)))
    d_q = float(wl @ digamma(pxl + q) + n * (np.log(v) - digamma(q)))
    d_v = n * q / v

    px = p * x
    log_m = np.log(m)
    log_xmv = np.log(x * m + v)
    loglik += float(w @ ((px - 1) * log_m - (px + q) * log_xmv))
    d_p += float(w @ (x * (log_m - log_xmv)))
    d_q -= float(w @ log_xmv)
    d_v -= float(w @ ((px + q) / (x * m + v)))
    return loglik, np.array([d_p, d_q, d_v])


@dataclass(frozen=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma spend parameters (v in currency units).

    ``log_likelihood`` is the total over the fitted customers, without the penalty; it equals
    lifetimes' -n * mean negative log-likelihood when unpenalised.
    """

    p: float
    q: float
    v: float
    log_likelihood: float
    n_customers: int
    iterations: int
    penalizer: float
    boundary: Boundary | None = None

    @property
    def boundary_reason(self) -> str | None:
        return self.boundary.text() if self.boundary else None

    @property
    def has_finite_mean(self) -> bool:
        """Spend per purchase has a finite population mean p v / (q - 1) only when q > 1."""
        return self.q > 1

    def expected_average_value(self, frequency: ArrayLike, monetary: ArrayLike) -> FloatArray:
        """E[mean spend | history]: shrinks the observed mean towards the population mean.

        The weight on the customer's own mean grows with frequency; with none it is the
        population mean p v / (q - 1).
        """
        x, m = (np.asarray(a, dtype=np.float64) for a in (frequency, monetary))
        own_weight = self.p * x / (self.p * x + self.q - 1)
        population_mean = self.v * self.p / (self.q - 1)
        return (1 - own_weight) * population_mean + own_weight * m


def fit_gamma_gamma(
    frequency: ArrayLike,
    monetary: ArrayLike,
    *,
    penalizer: float = 0.0,
    maxiter: int = 1000,
) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma fit (Fader, Hardie & Lee 2005; Hardie note 025).

    Only repeat buyers with a positive mean spend carry information on spend, so the fit uses
    frequency > 0 and monetary > 0; the likelihood and penalty are lifetimes' ``GammaGammaFitter``.
    """
    x, m = _as_vectors(frequency=frequency, monetary=monetary)
    _check_frequency(x)
    if np.any((x == 0) & (m != 0)):
        raise BtydFitError(
            f"{np.sum((x == 0) & (m != 0))} customers have frequency 0 but monetary != 0 "
            "(monetary is the mean over repeat purchase days, 0 without any)"
        )
    used = (x > 0) & (m > 0)
    _check_minimum(int(used.sum()), 3, "repeat buyers with positive spend")
    x, m = x[used], m[used]
    groups = _group(x, m)
    # p = 1, q = 3 with the population mean p v / (q - 1) at the observed mean spend.
    start = np.array([1.0, 3.0, 2.0 * m.mean()])
    optimum = _maximise(
        lambda params: _gamma_gamma_loglik(params, groups),
        start,
        names=("p", "q", "v"),
        n_customers=x.size,
        penalizer=penalizer,
        maxiter=maxiter,
        model="Gamma-Gamma",
    )
    p, q, v = optimum.params
    loglik, _ = _gamma_gamma_loglik(np.array([p, q, v]), groups)
    return GammaGammaFit(
        p=float(p),
        q=float(q),
        v=float(v),
        log_likelihood=loglik,
        n_customers=int(x.size),
        iterations=optimum.iterations,
        penalizer=penalizer,
        boundary=optimum.boundary,
    )


def customer_lifetime_value(
    bgnbd: BgNbdFit,
    gg: GammaGammaFit,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    months: int = 12,
    discount_rate_monthly: float = 0.01,
    days_per_month: float = 30.0,
) -> FloatArray:
    """Discounted value of the next ``months`` months, as lifetimes' ``customer_lifetime_value``.

    Sum over months i of E[purchases in month i] * E[mean spend] / (1 + d)^i; months are
    ``days_per_month`` days (lifetimes' freq="D" uses 30).
    """
    if months < 1 or days_per_month <= 0 or discount_rate_monthly <= -1:
        raise ValueError(
            "need months >= 1, days_per_month > 0 and discount_rate_monthly > -1, got "
            f"{months}, {days_per_month}, {discount_rate_monthly}"
        )
    x, t_x, age, m = (
        np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (frequency, recency, T, monetary)
    )
    horizons = days_per_month * np.arange(months + 1, dtype=np.float64)[:, None]
    cumulative = bgnbd.expected_purchases(horizons, x, t_x, age)
    discount = (1 + discount_rate_monthly) ** -np.arange(1, months + 1, dtype=np.float64)
    return gg.expected_average_value(x, m) * (discount @ np.diff(cumulative, axis=0))


# ---------------------------------------------------------------------------------------------
# Backtest
# ---------------------------------------------------------------------------------------------


def calibration_holdout_summary(
    purchase_days: pd.DataFrame, calibration_end: dt.date, holdout_end: dt.date
) -> pd.DataFrame:
    """Per-customer BTYD summary on (.., calibration_end] and purchase counts in the holdout.

    A purchase day is a date with at least one purchase (same-day orders are one purchase, their
    amounts summed). Only customers whose first purchase day is <= calibration_end are kept:
    the model can only predict customers it has seen. Columns, indexed by customer_id:
    frequency_cal (purchase days after the first), recency_cal (last - first purchase day),
    T_cal (calibration_end - first purchase day), monetary_cal (mean per-day spend over the
    repeat days, 0 without any), frequency_holdout (purchase days in
    (calibration_end, holdout_end]) and duration_holdout (days in that window).
    """
    missing = {"customer_id", "purchase_date", "amount"} - set(purchase_days.columns)
    if missing:
        raise ValueError(f"purchase_days lacks columns {sorted(missing)}")
    if holdout_end <= calibration_end:
        raise ValueError(
            f"holdout_end {holdout_end} is not after calibration_end {calibration_end}"
        )
    cal_end, hold_end = pd.Timestamp(calibration_end), pd.Timestamp(holdout_end)

    days = (
        purchase_days.assign(
            purchase_date=pd.to_datetime(purchase_days["purchase_date"]).dt.normalize()
        )
        .groupby(["customer_id", "purchase_date"], as_index=False)["amount"]
        .sum()
    )
    calibration = days[days["purchase_date"] <= cal_end]
    first_day = calibration.groupby("customer_id")["purchase_date"].transform("min")
    repeat_amount = calibration["amount"].where(calibration["purchase_date"] > first_day)
    summary = (
        calibration.assign(repeat_amount=repeat_amount)
        .groupby("customer_id")
        .agg(
            first=("purchase_date", "min"),
            last=("purchase_date", "max"),
            n_days=("purchase_date", "size"),
            monetary_cal=("repeat_amount", "mean"),
        )
    )
    in_holdout = (days["purchase_date"] > cal_end) & (days["purchase_date"] <= hold_end)
    holdout_days = days[in_holdout].groupby("customer_id").size()
    return pd.DataFrame(
        {
            "frequency_cal": summary["n_days"] - 1,
            "recency_cal": (summary["last"] - summary["first"]).dt.days,
            "T_cal": (cal_end - summary["first"]).dt.days,
            "monetary_cal": summary["monetary_cal"].fillna(0.0).astype(np.float64),
            "frequency_holdout": holdout_days.reindex(summary.index, fill_value=0),
            "duration_holdout": (hold_end - cal_end).days,
        },
        index=summary.index,
    ).astype({"frequency_holdout": np.int64, "duration_holdout": np.int64})


@dataclass(frozen=True)
class BacktestResult:
    """Predicted vs actual holdout purchase days, per customer and by calibration frequency."""

    customers: pd.DataFrame
    mean_absolute_error: float
    total_predicted: float
    total_actual: float
    by_frequency: pd.DataFrame


def backtest(fit: BgNbdFit, summary: pd.DataFrame) -> BacktestResult:
    """Score a calibration-period fit on the holdout of ``calibration_holdout_summary``.

    The by-frequency table (buckets 0..6 and 7+, only those present) shows where the model is
    biased, which a single total hides.
    """
    if summary.empty:
        raise ValueError("summary has no customers to backtest")
    predicted = fit.expected_purchases(
        summary["duration_holdout"].to_numpy(np.float64),
        summary["frequency_cal"].to_numpy(np.float64),
        summary["recency_cal"].to_numpy(np.float64),
        summary["T_cal"].to_numpy(np.float64),
    )
    customers = summary.assign(predicted_holdout=predicted)
    actual = customers["frequency_holdout"].to_numpy(np.float64)
    frequency = customers["frequency_cal"].to_numpy(np.int64)
    bucket = pd.Categorical(
        np.where(frequency >= 7, "7+", frequency.astype(str)),
        categories=FREQUENCY_BUCKETS,
        ordered=True,
    )
    by_frequency = (
        customers.groupby(bucket, observed=True)
        .agg(
            customers=("frequency_holdout", "size"),
            actual_mean=("frequency_holdout", "mean"),
            predicted_mean=("predicted_holdout", "mean"),
        )
        .rename_axis("frequency_cal_bucket")
    )
    return BacktestResult(
        customers=customers,
        mean_absolute_error=float(np.mean(np.abs(predicted - actual))),
        total_predicted=float(predicted.sum()),
        total_actual=float(actual.sum()),
        by_frequency=by_frequency,
    )
