"""Reward functions of :class:`~alpha_env.env.AlphaStackEnv`.

A finished expression is simulated once by the ACE; its reward is one metric of the backtest over the
*reward window* (the train split, or the ``t+1 .. t+H`` days of a document-conditioned episode), minus an
optional penalty for the PnL correlation with alphas already found in the run. Every number here is
computed from the window's days only: nothing outside the window (valid / test days) enters a reward.

| reward name | metric of :func:`alpha_env.backtest.window_metrics` over the window           |
|-------------|--------------------------------------------------------------------------------|
| `sharpe`    | annualized Sharpe of the daily PnL, ``sqrt(252)·mean/std`` (ddof = 1)          |
| `ic`        | mean daily Pearson IC between the signal and the returns its book earns        |
| `rank_ic`   | mean daily Spearman IC, same pairing                                           |
| `fitness`   | ``sharpe · sqrt(|annual_return| / max(turnover, 0.125))``                      |
| `pool`      | gain of the run's pool objective when the alpha is offered (0 if refused)      |
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from alpha_env.errors import SettingsError

__all__ = ["REWARDS", "POOL_REWARD", "reward_metric", "window_degenerate_reason", "FoundAlphas",
           "pnl_correlation"]

#: reward name → key of the window metrics dict it reads (the one registry of single-alpha rewards).
REWARDS: Mapping[str, str] = {"sharpe": "sharpe", "ic": "ic", "rank_ic": "rank_ic", "fitness": "fitness"}

#: The pool reward: the gain of the run's alpha-pool objective (:mod:`alpha_env.pool`) when the episode's
#: alpha is offered; its single-alpha gate (degenerate or not) reads the window's ``sharpe``.
POOL_REWARD = "pool"


def reward_metric(name: str) -> str:
    """Metric key of a reward name (case-insensitive).

    Raises:
        SettingsError: unknown reward name (the message lists the known ones).
    """
    if str(name).lower() == POOL_REWARD:
        return "sharpe"
    key = REWARDS.get(str(name).lower())
    if key is None:
        raise SettingsError(f"unknown reward {name!r}; choose one of {', '.join(REWARDS)}")
    return key


def window_degenerate_reason(metrics: Mapping[str, float], metric: str, window: str) -> str | None:
    """Why a window's metrics cannot serve as a reward (``None`` when they can).

    Args:
        metrics: the window's metrics dict (``held_days``, the reward metric, ...).
        metric: the reward's metric key.
        window: a short description for the message (``"the train split"``).
    """
    if not metrics.get("held_days", 0.0) > 0:
        return f"no book is held in {window} (the signal has too few finite values there)"
    value = metrics.get(metric)
    if value is None or not math.isfinite(value):
        return f"the {metric} over {window} is not finite"
    return None


def pnl_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two daily PnL series of equal length; 0.0 when either is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"PnL series differ in length: {a.shape} vs {b.shape}")
    if a.shape[0] < 2:
        return 0.0
    da = a - a.mean()
    db = b - b.mean()
    den = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    if not den > 0.0:
        return 0.0
    return float(np.dot(da, db) / den)


class FoundAlphas:
    """The daily PnL of the alphas an environment found in this run (for the correlation penalty).

    Keeps at most ``capacity`` alphas (the oldest are dropped first), keyed by alpha id, each as its
    full ``(T,)`` PnL series; correlations are taken over the reward window only.
    """

    def __init__(self, capacity: int = 1000):
        if capacity < 1:
            raise SettingsError(f"the found-alpha memory needs a capacity >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._pnl: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pnl)

    def __contains__(self, alpha_id: object) -> bool:
        return alpha_id in self._pnl

    def add(self, alpha_id: str, pnl: np.ndarray) -> None:
        """Remember an alpha's daily PnL (a copy; re-adding moves it to the newest place)."""
        self._pnl.pop(alpha_id, None)
        self._pnl[alpha_id] = np.array(pnl, dtype=np.float64, copy=True)
        while len(self._pnl) > self.capacity:
            self._pnl.popitem(last=False)

    def max_correlation(self, pnl: np.ndarray, window: slice) -> tuple[float, str | None]:
        """Largest ``|corr|`` between ``pnl[window]`` and a found alpha's PnL over the same days.

        Returns:
            ``(max |corr|, alpha id of that alpha)``; ``(0.0, None)`` when nothing was found yet.
        """
        best, best_id = 0.0, None
        mine = np.asarray(pnl)[window]
        for alpha_id, other in self._pnl.items():
            c = abs(pnl_correlation(mine, other[window]))
            if c > best:
                best, best_id = c, alpha_id
        return best, best_id

    def clear(self) -> None:
        """Forget every found alpha."""
        self._pnl.clear()
