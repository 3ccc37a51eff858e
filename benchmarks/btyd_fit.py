"""Time the grouped BG/NBD and Gamma-Gamma fits on a million simulated customers.

Run: uv run python benchmarks/btyd_fit.py. The customers are drawn from the BG/NBD model in
whole days (CDNOW parameters, alpha converted from weeks), first purchases spread over two
years, spends from the Gamma-Gamma model in cents. lifetimes is timed on 10,000 of them for
comparison; a million would take it far longer, as it has no grouping.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from orchestration.predictive.btyd import customer_lifetime_value, fit_bgnbd, fit_gamma_gamma

N_CUSTOMERS = 1_000_000
N_LIFETIMES = 10_000
BGNBD = {"r": 0.24, "alpha": 4.41 * 7, "a": 0.79, "b": 2.43}  # per day
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}

R = TypeVar("R")


def simulate(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-customer day summaries drawn from the BG/NBD and Gamma-Gamma models, vectorised.

    A customer makes min(N(T), K) repeat purchases: N(T) ~ Poisson(lambda T) arrivals and
    dropout after the K-th, K ~ Geometric(p). Given N(T) = n the k-th arrival is at T times a
    Beta(k, n - k + 1) order statistic; it falls on day ceil(.) of the customer's life.
    """
    T = rng.integers(0, 730, size=n).astype(np.float64)
    lam = rng.gamma(BGNBD["r"], 1 / BGNBD["alpha"], size=n)
    p = rng.beta(BGNBD["a"], BGNBD["b"], size=n)
    arrivals = rng.poisson(lam * T)
    x = np.minimum(arrivals, rng.geometric(p))
    k = np.maximum(x, 1)
    recency = np.where(x > 0, np.ceil(T * rng.beta(k, arrivals - x + 1)), 0.0)
    nu = rng.gamma(GAMMA_GAMMA["q"], 1 / GAMMA_GAMMA["v"], size=n)
    spend = np.round(rng.gamma(GAMMA_GAMMA["p"] * k, 1 / nu) / k, 2)
    monetary = np.where(x > 0, np.maximum(spend, 0.01), 0.0)
    return {"frequency": x.astype(np.float64), "recency": recency, "T": T, "monetary": monetary}


def timed(label: str, run: Callable[[], R]) -> R:
    started = time.perf_counter()
    result = run()
    print(f"{label:<46} {time.perf_counter() - started:8.2f} s")
    return result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    data = simulate(np.random.default_rng(2024), N_CUSTOMERS)
    x, t_x, T, m = data["frequency"], data["recency"], data["T"], data["monetary"]
    groups = np.unique(np.column_stack([x, t_x, T]), axis=0).shape[0]
    print(f"customers                                      {N_CUSTOMERS:>11,}")
    print(f"repeat buyers                                  {int((x > 0).sum()):>11,}")
    print(f"distinct (frequency, recency, T) groups        {groups:>11,}")

    bgnbd = timed("fit BG/NBD (grouped)", lambda: fit_bgnbd(x, t_x, T))
    gg = timed("fit Gamma-Gamma", lambda: fit_gamma_gamma(x, m))
    clv = timed(
        "12-month CLV, all customers", lambda: customer_lifetime_value(bgnbd, gg, x, t_x, T, m)
    )
    print(
        f"BG/NBD r={bgnbd.r:.4f} alpha={bgnbd.alpha:.3f} a={bgnbd.a:.4f} b={bgnbd.b:.4f}"
        f" ({bgnbd.iterations} iterations); truth {BGNBD}"
    )
    print(
        f"Gamma-Gamma p={gg.p:.4f} q={gg.q:.4f} v={gg.v:.3f} ({gg.iterations} iterations);"
        f" truth {GAMMA_GAMMA}"
    )
    print(f"mean 12-month CLV {clv.mean():.2f}")
    print(f"peak RSS                                       {peak_rss_mb():8.0f} MB")

    from lifetimes import BetaGeoFitter, GammaGammaFitter  # dev-only reference

    few = {key: value[:N_LIFETIMES] for key, value in data.items()}
    x, t_x, T, m = few["frequency"], few["recency"], few["T"], few["monetary"]
    repeat = x > 0
    ours = timed(f"fit BG/NBD, ours, {N_LIFETIMES:,} customers", lambda: fit_bgnbd(x, t_x, T))
    reference = timed(
        f"fit BG/NBD, lifetimes, {N_LIFETIMES:,} customers",
        lambda: BetaGeoFitter().fit(x, t_x, T),
    )
    timed(f"fit Gamma-Gamma, ours, {N_LIFETIMES:,} customers", lambda: fit_gamma_gamma(x, m))
    timed(
        f"fit Gamma-Gamma, lifetimes, {N_LIFETIMES:,} customers",
        lambda: GammaGammaFitter().fit(x[repeat], m[repeat]),
    )
    gap = max(abs(getattr(ours, k) / reference.params_[k] - 1) for k in ("r", "alpha", "a", "b"))
    print(f"largest relative BG/NBD parameter gap to lifetimes  {gap:.1e}")


if __name__ == "__main__":
    main()
