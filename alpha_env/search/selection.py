"""Choosing alphas without peeking: selection windows, de-correlated picks and the deflated Sharpe ratio.

* :func:`window_metrics_at_cost` — the backtest metrics of a date window at any cost (the gross PnL minus
  ``cost_bps · 1e-4 · turnover``), so one simulation serves several cost settings;
* :func:`selection_window` — the contiguous window spanning ``train`` and ``valid`` (never ``test``);
* :func:`greedy_decorrelated` — best-first picks whose PnL correlation with every earlier pick is at most
  a threshold;
* :func:`mean_pairwise_correlation` — of daily PnL series;
* :func:`deflated_sharpe_ratio` (Bailey & López de Prado, 2014) and :func:`probabilistic_sharpe_ratio`.

Deflated Sharpe ratio, with per-period (not annualized) Sharpe ratios::

    SR0 = sqrt(V[SR]) · ((1 - γ) · Φ⁻¹(1 - 1/N) + γ · Φ⁻¹(1 - 1/(N·e)))        (expected max of N trials)
    DSR = Φ( (SR - SR0) · sqrt(T - 1) / sqrt(1 - skew · SR + (kurt - 1) / 4 · SR²) )

``γ`` is the Euler-Mascheroni constant, ``N`` the number of independent trials, ``V[SR]`` the variance of
the trials' Sharpe ratios, ``T`` the number of returns, ``skew`` and ``kurt`` the (non-excess) skewness
and kurtosis of the chosen strategy's returns (normal: 0 and 3). With ``N = 1`` the DSR is the
probabilistic Sharpe ratio against a zero benchmark. Φ and Φ⁻¹ are the standard library's
:class:`statistics.NormalDist` (no SciPy needed).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from statistics import NormalDist
from typing import TypeVar

import numpy as np

from alpha_env.backtest import BacktestResult, window_metrics
from alpha_env.errors import SettingsError

__all__ = [
    "EULER_GAMMA",
    "normal_cdf",
    "normal_ppf",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "deflated_sharpe_ratio",
    "return_moments",
    "deflated_sharpe_from_pnl",
    "at_cost",
    "window_metrics_at_cost",
    "selection_window",
    "greedy_decorrelated",
    "mean_pairwise_correlation",
]

#: Euler-Mascheroni constant.
EULER_GAMMA = 0.5772156649015329
_N01 = NormalDist()

T = TypeVar("T")


def normal_cdf(x: float) -> float:
    """Standard normal CDF Φ(x)."""
    return float(_N01.cdf(x))


def normal_ppf(p: float) -> float:
    """Standard normal quantile Φ⁻¹(p) for ``0 < p < 1``."""
    if not 0.0 < p < 1.0:
        raise SettingsError(f"normal quantile needs 0 < p < 1, got {p}")
    return float(_N01.inv_cdf(p))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """SR0: the expected maximum Sharpe ratio of ``n_trials`` unskilled trials (per-period units).

    0.0 for a single trial (no selection).
    """
    if n_trials < 1:
        raise SettingsError(f"n_trials must be >= 1, got {n_trials}")
    if sr_variance < 0 or not math.isfinite(sr_variance):
        raise SettingsError(f"sr_variance must be finite and >= 0, got {sr_variance}")
    if n_trials == 1:
        return 0.0
    return math.sqrt(sr_variance) * (
        (1.0 - EULER_GAMMA) * normal_ppf(1.0 - 1.0 / n_trials)
        + EULER_GAMMA * normal_ppf(1.0 - 1.0 / (n_trials * math.e))
    )


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """PSR: probability that the true per-period Sharpe exceeds ``sr_benchmark`` given ``n_obs`` returns."""
    if n_obs < 2:
        raise SettingsError(f"n_obs must be >= 2 returns, got {n_obs}")
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not var > 0:
        raise SettingsError(
            f"the Sharpe ratio's variance term is {var:.4g} (skew={skew}, kurtosis={kurtosis})")
    return normal_cdf((sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var))


def deflated_sharpe_ratio(
    sr: float, n_trials: int, sr_variance: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """DSR of Bailey & López de Prado (2014); see the module docstring. All Sharpe ratios per period."""
    return probabilistic_sharpe_ratio(sr, expected_max_sharpe(n_trials, sr_variance), n_obs, skew, kurtosis)


def return_moments(pnl: np.ndarray) -> tuple[float, float, float, int]:
    """Per-period Sharpe (ddof=1), skewness, non-excess kurtosis and count of a return series."""
    x = np.asarray(pnl, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n < 3:
        return math.nan, math.nan, math.nan, n
    sd = float(x.std(ddof=1))
    if not sd > 0:
        return 0.0, 0.0, 3.0, n
    z = (x - x.mean()) / x.std(ddof=0)
    return float(x.mean() / sd), float(np.mean(z**3)), float(np.mean(z**4)), n


def deflated_sharpe_from_pnl(pnl: np.ndarray, n_trials: int, trial_sharpes: Sequence[float]) -> float:
    """DSR of a daily PnL series chosen among ``n_trials`` whose *per-period* Sharpes are ``trial_sharpes``.

    NaN when the series is too short or flat.
    """
    sr, skew, kurt, n = return_moments(pnl)
    finite = np.asarray([s for s in trial_sharpes if math.isfinite(s)], dtype=np.float64)
    if not math.isfinite(sr) or n < 3:
        return math.nan
    var = float(finite.var(ddof=1)) if finite.size > 1 else 0.0
    try:
        return deflated_sharpe_ratio(sr, max(1, int(n_trials)), var, n, skew, kurt)
    except SettingsError:
        return math.nan


def at_cost(bt: BacktestResult, cost_bps: float) -> BacktestResult:
    """The same backtest with PnL ``gross_pnl - cost_bps·1e-4·turnover`` (weights, IC unchanged)."""
    if cost_bps < 0 or not math.isfinite(cost_bps):
        raise SettingsError(f"cost_bps must be finite and >= 0, got {cost_bps}")
    cost = cost_bps * 1e-4 * bt.turnover
    settings = dataclasses.replace(bt.settings, cost_bps=float(cost_bps))
    return dataclasses.replace(bt, settings=settings, pnl=bt.gross_pnl - cost, cost=cost)


def window_metrics_at_cost(bt: BacktestResult, window: slice, cost_bps: float) -> dict[str, float]:
    """:func:`alpha_env.backtest.window_metrics` of ``window`` at ``cost_bps``."""
    return window_metrics(at_cost(bt, cost_bps), window)


def selection_window(splits: Mapping[str, slice], names: Sequence[str] = ("train", "valid")) -> slice:
    """One contiguous date-index window covering the named splits (``test`` is refused).

    Raises:
        SettingsError: a name is ``test`` or unknown, or the splits are not contiguous.
    """
    if "test" in names:
        raise SettingsError("selection must not use the test split")
    missing = [n for n in names if n not in splits]
    if missing:
        raise SettingsError(f"unknown split(s) {missing}; the panel has {sorted(splits)}")
    parts = sorted((splits[n].start or 0, splits[n].stop) for n in names)
    for (_, stop), (start, _) in zip(parts, parts[1:]):
        if stop != start:
            raise SettingsError(f"splits {list(names)} are not contiguous")
    return slice(parts[0][0], parts[-1][1])


def greedy_decorrelated(
    items: Sequence[T],
    score: Callable[[T], float],
    pnl: Callable[[T], np.ndarray],
    n: int,
    max_correlation: float = 0.7,
) -> list[T]:
    """Best-first picks (by ``score``, non-finite scores skipped) whose daily PnL (``pnl``, same window for
    every item) has a correlation of at most ``max_correlation`` with every earlier pick."""
    order = sorted((i for i in items if math.isfinite(score(i))), key=score, reverse=True)
    picked: list[T] = []
    series: list[np.ndarray] = []
    for item in order:
        if len(picked) >= n:
            break
        x = np.asarray(pnl(item), dtype=np.float64)
        x = x - x.mean()
        nx = float(np.sqrt(x @ x))
        if not nx > 0:
            continue
        if all(float(x @ y) / (nx * float(np.sqrt(y @ y))) <= max_correlation for y in series):
            picked.append(item)
            series.append(x)
    return picked


def mean_pairwise_correlation(pnls: Sequence[np.ndarray]) -> float:
    """Mean Pearson correlation over all pairs of daily PnL series (NaN with fewer than two; flat series
    are left out)."""
    rows = [np.asarray(p, dtype=np.float64) for p in pnls]
    rows = [r for r in rows if r.size > 1 and float(r.std()) > 0]
    if len(rows) < 2:
        return math.nan
    c = np.corrcoef(np.vstack(rows))
    iu = np.triu_indices(len(rows), k=1)
    return float(np.mean(c[iu]))
