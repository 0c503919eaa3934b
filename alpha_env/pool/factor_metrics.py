"""Factor metrics of a signal against forward-return targets: IC, rank IC, ICIR, IC decay, quantiles.

The daily correlations reuse the backtest's IC kernels (:mod:`alpha_env.backtest.kernels`): the signal
row ``t`` is paired with the *target* row ``t`` (a forward return already aligned with the delay, see
:mod:`alpha_env.pool.targets`), which is the kernels' pairing at ``delay = -1`` (lag 0), with no decay.

| metric              | definition (over the signal rows of a split)                                      |
|---------------------|------------------------------------------------------------------------------------|
| `ic`                | mean of the daily Pearson correlation of signal and target across stocks          |
| `rank_ic`           | mean of the daily Spearman correlation (average ranks for ties)                    |
| `ic_sd`, `rank_ic_sd` | standard deviation (ddof=1) of those daily series                               |
| `icir`, `rank_icir` | `mean / sd` of the daily IC / rank IC (not annualised)                             |
| `days`              | days with a defined IC (at least 3 stocks with a finite signal and target)         |
| `ic_decay`          | `{h: ic}` for horizons ``h`` (1..20 by default): the `ic` against ``h``-day targets |
| `quantile_returns`  | ``q`` mean targets (fraction) of the signal's quantile buckets, lowest first       |
| `quantile_spread`   | top minus bottom bucket                                                            |

A day's correlation needs 3 stocks with a finite signal and a finite target inside the universe.
Undefined values (no day, zero spread) are NaN, never 0.

Quantile buckets (alphalens-style): each day, the stocks with a finite signal and target inside the
universe are ranked (average ranks for ties); a stock with percentile rank ``p = rank / m`` goes to
bucket ``ceil(q · p) - 1`` (``0 .. q-1``); with distinct values and ``m`` divisible by ``q`` these are
exactly ``pandas.qcut(signal, q)``'s buckets. Days with fewer than ``q`` such stocks are skipped; the
bucket mean target of each day is averaged over the days where the bucket is non-empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from alpha_env.backtest.kernels import ic_kernel, ic_kernel_serial, rank_ic_series
from alpha_env.errors import DataError, SettingsError
from alpha_env.ops.crosssection import rank
from alpha_env.ops.threads import read_only, use_parallel
from alpha_env.pool.targets import check_delay, forward_returns

__all__ = [
    "DEFAULT_DECAY_HORIZONS",
    "daily_ic",
    "ic_stats",
    "ic_decay",
    "quantile_returns",
    "factor_metrics",
]

#: Horizons of the IC decay curve (trading days).
DEFAULT_DECAY_HORIZONS: tuple[int, ...] = tuple(range(1, 21))


def _panel(name: str, x: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(f"{name} must be a (dates x stocks) array, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise DataError(f"{name} has shape {arr.shape}, expected {shape}")
    return arr


def _universe(universe: Any, shape: tuple[int, int]) -> np.ndarray:
    if universe is None:
        return np.ones(shape, dtype=bool)
    u = np.ascontiguousarray(universe, dtype=bool)
    if u.shape != shape:
        raise DataError(f"universe has shape {u.shape}, expected {shape}")
    return u


def daily_ic(signal: Any, target: Any, universe: Any = None, *, ranked: bool = False) -> np.ndarray:
    """Daily cross-sectional correlation of ``signal[t]`` with ``target[t]``.

    Args:
        signal, target: ``(T, N)`` arrays (target: forward returns aligned with the signal rows).
        universe: ``(T, N)`` bool, stocks tradable that day (all by default).
        ranked: Spearman (average ranks for ties) instead of Pearson.

    Returns:
        ``(T,)`` float64, NaN on days with fewer than 3 pairs or no spread.
    """
    x = _panel("signal", signal)
    y = _panel("target", target, x.shape)
    u = _universe(universe, x.shape)
    x, y, u = read_only(x), read_only(y), read_only(u)  # the kernels' one input type (ops.threads)
    parallel = use_parallel(x.size)
    if ranked:
        return rank_ic_series(x, y, u, 0, -1, parallel)
    return (ic_kernel if parallel else ic_kernel_serial)(x, y, u, 0, -1, False)


def ic_stats(daily: np.ndarray, rows: slice = slice(None)) -> dict[str, float]:
    """``{"mean", "sd", "ir", "days"}`` of a daily IC series over ``rows`` (defined days only; NaN when
    undefined: no day for the mean, fewer than 2 days or zero spread for ``sd`` and ``ir``)."""
    d = np.asarray(daily, dtype=np.float64)[rows]
    d = d[np.isfinite(d)]
    n = d.size
    mean = float(d.mean()) if n else float("nan")
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    ir = mean / sd if n > 1 and sd > 0.0 else float("nan")
    return {"mean": mean, "sd": sd, "ir": float(ir), "days": float(n)}


def quantile_returns(
    signal: Any, target: Any, universe: Any = None, *, quantiles: int = 5, rows: slice = slice(None)
) -> np.ndarray:
    """Mean target of each signal quantile bucket, averaged over the days of ``rows``.

    Returns:
        ``(quantiles,)`` float64 (fraction per ``horizon`` days), lowest bucket first; NaN for a bucket
        that is empty on every day.
    """
    if isinstance(quantiles, bool) or not isinstance(quantiles, int) or quantiles < 2:
        raise SettingsError(f"quantiles must be an integer >= 2, got {quantiles!r}")
    x = _panel("signal", signal)
    y = _panel("target", target, x.shape)
    u = _universe(universe, x.shape)
    x, y, u = x[rows], y[rows], u[rows]
    ok = u & np.isfinite(x) & np.isfinite(y)
    pct = rank(np.ascontiguousarray(np.where(ok, x, np.nan)))
    m = ok.sum(axis=1)
    day_ok = m >= quantiles
    # q·p is an integer exactly at a bucket edge; elsewhere it is at least 1/(2m) from one
    bucket = np.clip(np.ceil(quantiles * np.nan_to_num(pct) - 1e-9) - 1, 0, quantiles - 1).astype(np.int64)
    cell = ok & day_ok[:, None]
    out = np.full(quantiles, np.nan)
    for q in range(quantiles):
        inq = cell & (bucket == q)
        cnt = inq.sum(axis=1)
        tot = np.where(inq, y, 0.0).sum(axis=1)
        have = cnt > 0
        if have.any():
            out[q] = float((tot[have] / cnt[have]).mean())
    return out


def ic_decay(
    signal: Any,
    close: Any,
    universe: Any = None,
    *,
    delay: int = 1,
    horizons: Iterable[int] = DEFAULT_DECAY_HORIZONS,
    rows: slice = slice(None),
) -> dict[int, float]:
    """Mean daily Pearson IC of ``signal`` against ``h``-day forward returns, for each ``h``."""
    x = _panel("signal", signal)
    c = _panel("close", close, x.shape)
    u = _universe(universe, x.shape)
    return {
        int(h): ic_stats(daily_ic(x, forward_returns(c, horizon=h, delay=delay), u), rows)["mean"]
        for h in horizons
    }


def factor_metrics(
    signal: Any,
    close: Any,
    splits: Mapping[str, slice],
    universe: Any = None,
    *,
    horizon: int = 1,
    delay: int = 1,
    quantiles: int = 5,
    decay_horizons: Iterable[int] = DEFAULT_DECAY_HORIZONS,
) -> dict[str, dict[str, Any]]:
    """Every metric of the module table, per named split (a slice of signal rows) plus ``"all"``.

    Args:
        signal: ``(T, N)`` alpha values. close: ``(T, N)`` closing prices (targets are built from it).
        splits: ``{"train": slice, ...}`` (e.g. ``panel.splits``). universe: ``(T, N)`` bool.
        horizon: target horizon (days) of ``ic``, ``rank_ic`` and quantiles. delay: the backtest delay.
        quantiles: number of buckets. decay_horizons: horizons of ``ic_decay``.
    """
    check_delay(delay)
    x = _panel("signal", signal)
    c = _panel("close", close, x.shape)
    u = _universe(universe, x.shape)
    y = forward_returns(c, horizon=horizon, delay=delay)
    ic = daily_ic(x, y, u)
    ric = daily_ic(x, y, u, ranked=True)
    hs = tuple(int(h) for h in decay_horizons)
    decay_daily = {h: (ic if h == horizon else daily_ic(x, forward_returns(c, horizon=h, delay=delay), u))
                   for h in hs}
    out: dict[str, dict[str, Any]] = {}
    for name, rows in {**dict(splits), "all": slice(None)}.items():
        a = ic_stats(ic, rows)
        r = ic_stats(ric, rows)
        qr = quantile_returns(x, y, u, quantiles=quantiles, rows=rows)
        out[name] = {
            "ic": a["mean"], "ic_sd": a["sd"], "icir": a["ir"],
            "rank_ic": r["mean"], "rank_ic_sd": r["sd"], "rank_icir": r["ir"],
            "days": a["days"],
            "ic_decay": {h: ic_stats(d, rows)["mean"] for h, d in decay_daily.items()},
            "quantile_returns": [float(v) for v in qr],
            "quantile_spread": float(qr[-1] - qr[0]),
        }
    return out
