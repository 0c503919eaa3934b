"""The embedded synthetic market: planted, regime-dependent signals with known strength, plus news.

Generative model (all draws from one ``np.random.default_rng(seed)``; nothing global):

* **Regimes.** A hidden two-state Markov chain ``calm`` / ``stressed`` (stay probability ``0.97`` each,
  mean spell about 33 days) gives ``regime[t]``. Stressed days have 2× market and 1.3× idiosyncratic
  volatility.
* **Factors.** ``N`` stocks in ``n_sectors`` sectors (two industries each). Daily log return of stock i::

      lr[t, i] = beta_i * m[t] + gamma_i * f[t, sector(i)] + 0.5 * gamma_i * h[t, industry(i)]
                 + sigma_i * (eps[t, i] + alpha[t, i])

  with ``m`` the market factor, ``f``/``h`` sector/industry factors, ``eps ~ N(0, 1)`` and
  ``sigma_i ~ U(1.2 %, 2.5 %)`` the idiosyncratic volatility.
* **Planted signals.** ``alpha[t, i] = sum_k s_k(regime[t-1]) * z_k[t-1, i]`` where ``z_k[t-1]`` is the
  cross-sectional rank of planted expression ``k`` computed from data up to the close of ``t-1`` only,
  centred and scaled to unit variance (``(rank - (n+1)/2) / n * sqrt(12)``). So the regime and the data
  of day ``t-1`` set the expected return of day ``t``: no look-ahead. The expressions (alpha language,
  fields ``open high low close volume`` only) are in :data:`PLANTED`; each is active (strength ``s_k``)
  in the regimes it lists and zero elsewhere.
* **Bars.** ``close[t] = close[t-1] * exp(lr)``; the overnight part ``0.3 * lr + N(0, 0.3 sigma)`` sets
  ``open``; ``high``/``low`` extend ``max``/``min(open, close)`` by half-normal amounts (strictly, so
  ``high > low``); ``volume`` is log-AR(1) per stock plus a response to the absolute idiosyncratic move;
  ``vwap`` is a random convex mix of ``(high + low) / 2`` and ``(open + close) / 2``. So
  ``low <= open, close, vwap <= high`` and ``volume > 0`` always.
* **News.** Each trading day 2-5 market headlines (templated, varied wording) published between 07:00
  and 15:45 New York time, so they are usable at that day's close. 80 % of them use wording of the
  current regime (``regime[t]``, the one that sets the effect on ``t + 1``), 20 % are neutral; plus 1-3
  stock headlines citing a ticker and describing its previous day's move.

Oracle Sharpe (``metadata['oracle_sharpe']``): for each planted expression, the long-short portfolio
``w[t] = (r - mean r) / sum |r - mean r|`` from its daily cross-sectional ranks ``r`` held with the
backtest's timing (``pnl[t + delay + 1] = sum w[t] * returns[t + delay + 1]``, delay 1), annualised
``sqrt(252) * mean / std`` of the PnL days inside the ``train`` split. ``oracle_sharpe_delay0`` holds the
same at delay 0 and ``oracle_sharpe_regime`` the regime-switching combination (the ceiling of a
regime-aware, e.g. news-reading, agent).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from alpha_env.data.documents import DocumentStore
from alpha_env.data.panel import MarketPanel
from alpha_env.data.splits import make_splits
from alpha_env.data.universe import UniverseSpec, compute_universe
from alpha_env.errors import DataError

__all__ = ["PlantedSignal", "PLANTED", "REGIMES", "synthetic_market", "long_short_sharpe", "centred_ranks"]

REGIMES: tuple[str, ...] = ("calm", "stressed")


@dataclass(frozen=True)
class PlantedSignal:
    """One planted effect.

    Attributes:
        name: short identifier.
        expression: the signal in the alpha language (a higher value predicts a higher next-day return).
        strength: expected next-day idiosyncratic log return per unit of centred, unit-variance rank,
            in units of the stock's idiosyncratic volatility, on days of an active regime.
        regimes: regimes in which it is active.
    """

    name: str
    expression: str
    strength: float
    regimes: tuple[str, ...]


PLANTED: tuple[PlantedSignal, ...] = (
    PlantedSignal("reversal", "rank(-delta(close, 5))", 0.035, ("calm",)),
    PlantedSignal("volume_price", "rank(-correlation(close, volume, 10))", 0.04, ("stressed",)),
    PlantedSignal("intraday", "rank(-decay_linear((close - open) / (high - low), 5))", 0.018,
                  ("calm", "stressed")),
)

_SECTORS = (
    "Energy", "Materials", "Industrials", "Consumer Discretionary", "Consumer Staples", "Health Care",
    "Financials", "Information Technology", "Communication Services", "Utilities", "Real Estate",
)
_STAY = 0.97
_DECAY_W = np.arange(1.0, 6.0) / 15.0  # decay_linear(., 5): oldest weight 1 ... newest 5, sum 1


def _centred_rank(x: np.ndarray) -> np.ndarray:
    """Cross-sectional rank of ``x`` ``(N,)`` centred and scaled to unit variance; 0 where NaN."""
    out = np.zeros(x.shape)
    ok = np.isfinite(x)
    n = int(ok.sum())
    if n < 2:
        return out
    r = np.empty(n)
    r[np.argsort(x[ok], kind="stable")] = np.arange(1.0, n + 1.0)
    out[ok] = (r - (n + 1) / 2.0) / n * math.sqrt(12.0)
    return out


def centred_ranks(x: np.ndarray) -> np.ndarray:
    """Row-wise :func:`_centred_rank` of a ``(T, N)`` array (vectorised; 0 where NaN or < 2 values)."""
    ok = np.isfinite(x)
    filled = np.where(ok, x, np.inf)
    order = np.argsort(filled, axis=1, kind="stable")
    r = np.empty(x.shape)
    np.put_along_axis(r, order, np.arange(1.0, x.shape[1] + 1.0)[None, :].repeat(x.shape[0], 0), axis=1)
    n = ok.sum(axis=1, keepdims=True).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (r - (n + 1.0) / 2.0) / n * math.sqrt(12.0)
    return np.where(ok & (n >= 2), z, 0.0)


def long_short_sharpe(signal: np.ndarray, returns: np.ndarray, delay: int, rows: slice) -> float:
    """Annualised Sharpe of the rank long-short of ``signal`` (T, N) with the backtest's timing.

    ``w[t]`` = demeaned cross-sectional ranks scaled to unit gross; ``pnl[t + delay + 1] =
    sum_i w[t, i] * returns[t + delay + 1, i]``; only PnL days ``t + delay + 1`` inside ``rows`` count.
    """
    t_n = signal.shape[0]
    lag = delay + 1
    z = centred_ranks(signal)[: t_n - lag]
    gross = np.abs(z).sum(axis=1)
    r = np.nan_to_num(returns[lag:], nan=0.0)
    pnl = np.full(t_n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        pnl[lag:] = np.where(gross > 0, (z * r).sum(axis=1) / gross, np.nan)
    p = pnl[rows]
    p = p[np.isfinite(p)]
    if p.size < 2 or p.std() == 0:
        return float("nan")
    return float(p.mean() / p.std(ddof=1) * math.sqrt(252.0))


def _tickers(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        k = int(rng.integers(3, 5))
        t = "".join(rng.choice(letters, size=k))
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def synthetic_market(
    seed: int = 0,
    n_stocks: int = 100,
    n_days: int = 1000,
    *,
    n_sectors: int = 10,
    start: str = "2010-01-04",
    planted: tuple[PlantedSignal, ...] = PLANTED,
    strength_scale: float = 1.0,
    news: bool = True,
    splits: dict[str, Any] | None = None,
    universe: UniverseSpec | dict[str, Any] | None = None,
) -> MarketPanel:
    """Build the seeded synthetic market (see the module docstring for the model).

    Args:
        seed: seed of the ``np.random.default_rng`` driving every draw (same seed → same panel).
        n_stocks, n_days: N and T (N >= 10, T >= 30).
        n_sectors: number of sectors (1..11), two industries each.
        start: first business day.
        planted: the planted signals (default :data:`PLANTED`).
        strength_scale: multiplies every planted strength (0 gives a market with no signal).
        news: attach synthetic headlines (``documents`` and the ``news_count`` field).
        splits, universe: as in :func:`alpha_env.data.load_panel` (default 60/20/20, ``min_history=20``).

    Returns:
        A :class:`MarketPanel` whose ``metadata`` holds ``planted``, ``oracle_sharpe``,
        ``oracle_sharpe_delay0``, ``oracle_sharpe_regime``, ``regime_path`` and ``regime_names``.
    """
    if n_stocks < 10 or n_days < 30:
        raise DataError(f"synthetic_market needs n_stocks >= 10 and n_days >= 30, got {n_stocks}, {n_days}")
    if not 1 <= n_sectors <= len(_SECTORS):
        raise DataError(f"n_sectors must be in 1..{len(_SECTORS)}, got {n_sectors}")
    for p in planted:
        unknown = set(p.regimes) - set(REGIMES)
        if unknown:
            raise DataError(f"planted signal '{p.name}' names unknown regime(s) {sorted(unknown)}")
    rng = np.random.default_rng(seed)
    # one child stream per quantity: each array is drawn day by day in order, so the first T1 days of a
    # T2-day market equal a T1-day market with the same seed (prefix stability: no look-ahead)
    (s_regime, s_mkt, s_sec, s_ind, s_eps, s_gap, s_up, s_down, s_vol, s_vwap, s_news) = rng.spawn(11)
    t_n, n = int(n_days), int(n_stocks)
    dates = pd.bdate_range(start=start, periods=t_n).to_numpy().astype("datetime64[D]")

    # stocks (depend on N only)
    sector = rng.permutation(np.arange(n) % n_sectors)
    industry = sector * 2 + rng.integers(0, 2, size=n)
    beta = rng.normal(1.0, 0.2, size=n)
    gamma = rng.uniform(0.5, 1.0, size=n)
    sigma = rng.uniform(0.012, 0.025, size=n)
    vol_level = rng.uniform(12.0, 16.0, size=n)
    price0 = np.exp(rng.uniform(math.log(15.0), math.log(250.0), size=n))
    tickers = _tickers(rng, n)

    # regimes
    regime = np.empty(t_n, dtype=np.int64)
    first, flips = s_regime.integers(0, 2), s_regime.random(t_n) > _STAY
    regime[0] = int(first)
    for t in range(1, t_n):
        regime[t] = 1 - regime[t - 1] if flips[t] else regime[t - 1]
    vol_mkt = np.where(regime == 1, 0.016, 0.008)
    vol_idio = np.where(regime == 1, 1.3, 1.0)

    # every other random draw up front (same values whatever the planted strengths)
    m = s_mkt.normal(0.0003, 1.0, size=t_n) * vol_mkt
    f = s_sec.normal(0.0, 0.006, size=(t_n, n_sectors)) * vol_idio[:, None]
    h = s_ind.normal(0.0, 0.004, size=(t_n, 2 * n_sectors)) * vol_idio[:, None]
    eps = s_eps.standard_normal((t_n, n))
    gap_noise = s_gap.standard_normal((t_n, n)) * 0.3
    up = np.abs(s_up.standard_normal((t_n, n))) * 0.5 + 0.05
    down = np.abs(s_down.standard_normal((t_n, n))) * 0.5 + 0.05
    vol_noise = s_vol.standard_normal((t_n, n)) * 0.25
    vwap_mix = s_vwap.uniform(0.2, 0.8, size=(t_n, n))

    common = beta[None, :] * m[:, None] + gamma[None, :] * (f[:, sector] + 0.5 * h[:, industry])
    strength = np.zeros((len(planted), 2))
    for k, p in enumerate(planted):
        for rname in p.regimes:
            strength[k, REGIMES.index(rname)] = p.strength * strength_scale

    close = np.empty((t_n, n))
    open_ = np.empty((t_n, n))
    high = np.empty((t_n, n))
    low = np.empty((t_n, n))
    volume = np.empty((t_n, n))
    lr = np.empty((t_n, n))
    signals = np.full((len(planted), t_n, n), np.nan)
    intr = np.full((t_n, n), np.nan)  # (close - open) / (high - low)
    vol_state = np.zeros(n)
    alpha = np.zeros(n)
    prev_close = price0
    for t in range(t_n):
        s_idio = sigma * vol_idio[t]
        idio = s_idio * eps[t] + sigma * alpha
        lr[t] = common[t] + idio
        c = prev_close * np.exp(lr[t])
        o = prev_close * np.exp(0.3 * lr[t] + gap_noise[t] * s_idio)
        hi = np.maximum(o, c) * np.exp(up[t] * s_idio)
        lo = np.minimum(o, c) * np.exp(-down[t] * s_idio)
        vol_state = 0.9 * vol_state + vol_noise[t]
        v = np.round(np.exp(vol_level + vol_state + 0.3 * np.abs(idio) / s_idio)) + 100.0
        close[t], open_[t], high[t], low[t], volume[t] = c, o, hi, lo, v
        intr[t] = (c - o) / (hi - lo)
        # planted signals from data up to the close of t (they set the expected return of t + 1)
        alpha = np.zeros(n)
        for k, p in enumerate(planted):
            if p.name == "reversal":
                x = -(c - close[t - 5]) if t >= 5 else None
            elif p.name == "volume_price":
                x = -_corr_cols(close[t - 9 : t + 1], volume[t - 9 : t + 1]) if t >= 9 else None
            elif p.name == "intraday":
                x = -(_DECAY_W @ intr[t - 4 : t + 1]) if t >= 4 else None
            else:
                raise DataError(f"synthetic_market has no generator for planted signal '{p.name}'")
            if x is None:
                continue
            signals[k, t] = x
            s = strength[k, regime[t]]
            if s:
                alpha += s * _centred_rank(x)
        prev_close = c
    vwap = vwap_mix * (high + low) / 2.0 + (1.0 - vwap_mix) * (open_ + close) / 2.0

    names = _SECTORS[:n_sectors]
    groups = {
        "sector": (sector, names),
        "industry": (industry, tuple(f"{names[i // 2]} {'AB'[i % 2]}" for i in range(2 * n_sectors))),
    }
    groups["subindustry"] = groups["industry"]
    split_map = make_splits(dates, splits)
    fields: dict[str, np.ndarray] = {
        "open": open_, "high": high, "low": low, "close": close, "volume": volume, "vwap": vwap,
    }
    documents = None
    if news:
        documents = _synthetic_news(s_news, dates, regime, tickers, close)
        counts = documents.daily_counts(tickers)
        fields["news_count"] = counts
    returns = np.full((t_n, n), np.nan)
    returns[1:] = close[1:] / close[:-1] - 1.0
    train = split_map.get("train", slice(0, t_n))
    oracle1, oracle0 = {}, {}
    for k, p in enumerate(planted):
        oracle1[p.expression] = round(long_short_sharpe(signals[k], returns, 1, train), 3)
        oracle0[p.expression] = round(long_short_sharpe(signals[k], returns, 0, train), 3)
    combined = np.zeros((t_n, n))
    for k in range(len(planted)):
        combined += strength[k, regime][:, None] * centred_ranks(signals[k])
    spec = UniverseSpec.coerce(universe)
    meta: dict[str, Any] = {
        "name": "synthetic",
        "source": f"synthetic_market(seed={seed}, n_stocks={n}, n_days={t_n})",
        "seed": seed,
        "planted": [
            {**asdict(p), "regimes": list(p.regimes), "strength": p.strength * strength_scale,
             "oracle_sharpe": oracle1[p.expression], "oracle_sharpe_delay0": oracle0[p.expression]}
            for p in planted
        ],
        "oracle_sharpe": oracle1,
        "oracle_sharpe_delay0": oracle0,
        "oracle_sharpe_regime": {
            "delay1": round(long_short_sharpe(combined, returns, 1, train), 3),
            "delay0": round(long_short_sharpe(combined, returns, 0, train), 3),
        },
        "regime_names": list(REGIMES),
        "regime_path": regime.tolist(),
        "universe": spec.to_dict(),
    }
    return MarketPanel(
        dates, tickers, fields, groups=groups, universe=compute_universe(close, volume, spec),
        splits=split_map, metadata=meta, documents=documents,
    )


def _corr_cols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``x`` and ``y`` ``(w, N)``; NaN for a constant column."""
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    den = np.sqrt((xc * xc).sum(axis=0) * (yc * yc).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(axis=0) / den, np.nan)


# -- synthetic news --------------------------------------------------------------------------------------
_SUBJECTS = ("Wall Street", "U.S. stocks", "Equity markets", "The S&P 500", "Blue chips", "Stock indexes")
_CALM = (
    "{s} drift higher in quiet trade as volatility stays subdued",
    "{s} edge up in a calm session; traders see little to worry about",
    "Low volatility persists as {s} hold steady in range-bound trading",
    "{s} tick along in orderly trade, fear gauge near multi-month lows",
    "Investors shrug off data as {s} grind on in a placid market",
    "Steady gains for {s} as calm returns to trading floors",
    "{s} little changed in thin, tranquil trading",
)
_STRESSED = (
    "{s} whipsaw as fear gauge jumps and investors rush for safety",
    "Turbulent session: {s} swing wildly amid heavy selling",
    "{s} tumble in volatile trade as panic grips markets",
    "Sell-off deepens; {s} rocked by jittery, high-volume trading",
    "Volatility spikes as {s} lurch between gains and steep losses",
    "Stressed markets: {s} slide as traders dump risky assets",
    "{s} hit by turmoil, volatility index surges",
)
_NEUTRAL = (
    "Fed officials to speak later this week; {s} await guidance",
    "Earnings season continues as {s} digest corporate results",
    "Oil prices and the dollar in focus for {s}",
    "{s}: analysts review the week's economic calendar",
    "Merger talk and buyback news on the agenda for {s}",
)
_STOCK_UP = ("{t} shares rose {x:.1f}% on {d}", "{t} climbed {x:.1f}% in {d} trade",
             "{t} gained {x:.1f}% {d}")
_STOCK_DN = ("{t} shares fell {x:.1f}% on {d}", "{t} slipped {x:.1f}% in {d} trade",
             "{t} dropped {x:.1f}% {d}")


def _synthetic_news(
    rng: np.random.Generator, dates: np.ndarray, regime: np.ndarray, tickers: list[str], close: np.ndarray,
) -> DocumentStore:
    """Headlines published 07:00-15:45 New York time each trading day (see the module docstring)."""
    stamps: list[np.datetime64] = []
    titles: list[str] = []
    cites: list[tuple[str, ...]] = []
    weekdays = pd.DatetimeIndex(dates).day_name().tolist()
    for t in range(dates.size):
        day = dates[t].astype("datetime64[m]")
        pool_regime = _STRESSED if regime[t] == 1 else _CALM
        for _ in range(int(rng.integers(2, 6))):
            pool = pool_regime if rng.random() < 0.8 else _NEUTRAL
            tpl = pool[int(rng.integers(len(pool)))]
            titles.append(tpl.format(s=_SUBJECTS[int(rng.integers(len(_SUBJECTS)))]))
            cites.append(())
            stamps.append(day + np.timedelta64(int(rng.integers(7 * 60, 15 * 60 + 46)), "m"))
        n_stock = int(rng.integers(1, 4))
        if t < 2:
            continue
        for _ in range(n_stock):
            i = int(rng.integers(len(tickers)))
            move = (close[t - 1, i] / close[t - 2, i] - 1.0) * 100.0
            pool = _STOCK_UP if move >= 0 else _STOCK_DN
            tpl = pool[int(rng.integers(len(pool)))]
            titles.append(tpl.format(t=tickers[i], x=abs(move), d=weekdays[t - 1]))
            cites.append((tickers[i],))
            stamps.append(day + np.timedelta64(int(rng.integers(7 * 60, 15 * 60 + 46)), "m"))
    local = pd.DatetimeIndex(np.array(stamps, dtype="datetime64[ns]")).tz_localize("America/New_York")
    return DocumentStore(local, titles, None, cites, calendar=dates)
