"""``run_backtest``: validate inputs, dispatch to the Numba kernel, assemble a :class:`BacktestResult`.

Semantics (one trading day, signal day ``t``, holding day ``d = t + delay + 1``):

1. **Decay** (``decay > 1``): ``x̃[t] = Σ_k (decay-k)·x[t-k] / Σ_k (decay-k)`` over the finite values among
   ``k = 0 .. decay-1`` (NaN only when all are NaN).
2. **Universe**: stocks outside ``universe[t]`` (the universe known on the signal day) get NaN.
   A day with fewer than ``min_stocks`` finite values holds no book.
3. **Neutralization**: subtract the mean of the finite values of the stock's group (``market`` = one
   group; ``none`` = no demeaning). Stocks whose group code is ``-1`` are dropped from the book.
4. **Scale** to unit gross: ``w = x / Σ|x|``. A cross-section that neutralization leaves at zero (a constant
   signal) holds no book. The book does not depend on the signal's scale: a day whose values would
   overflow or underflow float64 in these sums is rescaled by a power of two first (``close * 1e306``
   and ``close * 1e-310`` hold the books of ``close``; ordinary days are untouched, bit for bit).
5. **Truncation** (``truncation > 0``): exact water-filling, i.e. ``w_i = sign(x_i)·min(c, λ|x_i|)`` with λ
   chosen so that ``Σ|w| = 1`` (the fixed point of "clip at c, rescale" repeated). With fewer than ``1/c``
   held stocks the target is infeasible and every held stock sits at ``±c``. Truncation runs after
   neutralization, so a binding cap can leave a group slightly unbalanced (as in WorldQuant BRAIN).
6. **Trade and hold**: the book of day ``t`` is bought at the close of ``t + delay`` and held to the close
   of ``d``; ``pnl[d] = Σ_i w_t,i · returns[d, i]``. A held stock whose return is NaN earns 0 and is
   counted in ``nan_held[d]``.
   *Return cleaning* (off by default; ``max_return``, ``glitch_factor``, see
   :mod:`alpha_env.backtest.cleaning`) masks bad returns before this step: a held stock whose return is
   masked earns 0 and is counted in ``masked_held[d]`` (not in ``nan_held``), and the PnL it would have
   booked is in ``removed_pnl[d]``. The IC pairs skip masked returns too. The signal is never cleaned.
7. **Turnover** ``turnover[d] = Σ|w_t − w_{t−1}|`` (fraction of book; the first book trades from cash) and
   **cost** ``cost_bps·1e-4·turnover[d]`` is subtracted from ``pnl[d]``.
8. **No silent NaN**: a book or PnL that is not finite on some day (it cannot come from the rules above
   on finite inputs, but the guard is cheap) makes the result degenerate, with the days named in
   ``degenerate_reason``; its Sharpe is NaN, never 0.

Threads: one policy for the whole library, :func:`alpha_env.ops.threads.use_parallel` (panels of at least
``PARALLEL_MIN_CELLS`` cells on more than one Numba thread); ``parallel=True/False`` forces a choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from alpha_env.backtest.cleaning import clean_returns
from alpha_env.backtest.kernels import (
    STATUS_FEW_STOCKS,
    STATUS_FLAT,
    STATUS_TRADED,
    backtest_kernel,
    backtest_kernel_serial,
    ic_kernel,
    ic_kernel_serial,
    rank_ic_series,
)
from alpha_env.backtest.settings import BacktestSettings
from alpha_env.errors import SettingsError
from alpha_env.ops.threads import read_only
from alpha_env.ops.threads import use_parallel as _use_parallel

__all__ = ["BacktestResult", "run_backtest"]


def _parallel(cells: int, parallel: bool | None = None) -> bool:
    """The library's one threading policy (:func:`alpha_env.ops.threads.use_parallel`), unless forced.

    ``NUMBA_NUM_THREADS=1`` forces one thread everywhere, the right choice when several processes share
    few cores (an oversubscribed OpenMP pool waits far longer than it computes).
    """
    if parallel is not None:
        return bool(parallel) and numba.get_num_threads() > 1
    return _use_parallel(cells)


@dataclass(eq=False)
class BacktestResult:
    """Output of :func:`run_backtest`.

    Attributes:
        settings: the settings used.
        weights: ``(T, N)`` book computed from the signal of day ``t`` (fraction of gross book;
            held on day ``t + delay + 1``). Zero rows on days without a book.
        pnl: ``(T,)`` daily PnL net of costs as a fraction of the book, by holding day.
        gross_pnl: ``(T,)`` the same before costs.
        turnover: ``(T,)`` traded value as a fraction of the book, by holding day.
        cost: ``(T,)`` cost as a fraction of the book (``cost_bps·1e-4·turnover``).
        long_count, short_count: ``(T,)`` int64 stocks held long / short, by holding day.
        nan_held: ``(T,)`` int64 held stocks whose return was NaN (earned 0), by holding day.
        masked_held: ``(T,)`` int64 held stocks whose return the return cleaning masked (earned 0), by
            holding day; zeros when cleaning is off.
        removed_pnl: ``(T,)`` gross PnL (fraction of book) those masked returns would have booked,
            ``Σ_i w_i·r_i`` over the masked held stocks; zeros when cleaning is off.
        return_mask: ``(T, N)`` bool returns masked by the cleaning (held or not); ``None`` when off.
        coverage: ``(T,)`` fraction of the universe with a finite signal, by holding day.
        status: ``(T,)`` int64 per signal day: 0 traded, 1 too few stocks, 2 flat after neutralization.
        valid_count: ``(T,)`` int64 finite signal values inside the universe, per signal day.
        degenerate_reason: ``None`` when some day holds a book, else why none does.
    """

    settings: BacktestSettings
    weights: np.ndarray
    pnl: np.ndarray
    gross_pnl: np.ndarray
    turnover: np.ndarray
    cost: np.ndarray
    long_count: np.ndarray
    short_count: np.ndarray
    nan_held: np.ndarray
    masked_held: np.ndarray
    removed_pnl: np.ndarray
    return_mask: np.ndarray | None
    coverage: np.ndarray
    status: np.ndarray
    valid_count: np.ndarray
    degenerate_reason: str | None
    _inputs: tuple = field(repr=False, default=())
    _ic: dict[bool, np.ndarray] = field(repr=False, default_factory=dict)
    _parallel_mode: bool | None = field(repr=False, default=None)
    _derived: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def lag(self) -> int:
        """Days between the signal day and the holding day (``delay + 1``)."""
        return self.settings.lag

    @property
    def masked_returns(self) -> int:
        """Returns (stock-days of the whole panel) that the return cleaning masked; 0 when off."""
        return 0 if self.return_mask is None else int(self.return_mask.sum())

    @property
    def held(self) -> np.ndarray:
        """``(T,)`` bool, read-only: a book is held on that holding day (computed on first use)."""
        if "held" not in self._derived:
            out = np.zeros(self.pnl.shape[0], dtype=bool)
            lag = self.lag
            if lag < out.shape[0]:
                out[lag:] = self.status[: out.shape[0] - lag] == STATUS_TRADED
            out.flags.writeable = False
            self._derived["held"] = out
        return self._derived["held"]

    @property
    def first_held(self) -> int:
        """The first holding day with a book (``T`` when none): where every metric window starts counting."""
        held = self.held
        idx = np.flatnonzero(held)
        return int(idx[0]) if idx.size else held.shape[0]

    def counted_days(self, window: slice) -> tuple[int, int]:
        """``(start, stop)``: the holding days of ``window`` (a date-index slice) that a metric counts, from
        the first held day on; none when ``stop <= start``."""
        start, stop, _ = window.indices(self.pnl.shape[0])
        return max(start, self.first_held), stop

    def positions(self) -> np.ndarray:
        """``(T, N)`` book held on each holding day (``weights`` shifted by ``delay + 1`` days)."""
        out = np.zeros_like(self.weights)
        lag = self.lag
        if lag < out.shape[0]:
            out[lag:] = self.weights[:-lag]
        return out

    @property
    def max_weight(self) -> np.ndarray:
        """``(T,)`` largest ``|w|`` of each signal day's book (0 without a book); computed on first use."""
        if "max_weight" not in self._derived:
            w = self.weights
            self._derived["max_weight"] = np.abs(w).max(axis=1) if w.shape[1] else np.zeros(w.shape[0])
        return self._derived["max_weight"]

    def _ic_series(self, ranked: bool) -> np.ndarray:
        if ranked not in self._ic:
            signal, returns, universe = self._inputs
            par = _parallel(signal.size, self._parallel_mode)
            s = self.settings
            if ranked:
                self._ic[ranked] = rank_ic_series(signal, returns, universe, s.decay, s.delay, par)
            else:
                kernel = ic_kernel if par else ic_kernel_serial
                self._ic[ranked] = kernel(signal, returns, universe, s.decay, s.delay, False)
        return self._ic[ranked]

    @property
    def ic(self) -> np.ndarray:
        """``(T,)`` Pearson IC by holding day: processed signal of day ``d-delay-1`` (decayed, in the
        universe, not neutralized) against ``returns[d]``; NaN where undefined. Computed on first use."""
        return self._ic_series(False)

    @property
    def rank_ic(self) -> np.ndarray:
        """``(T,)`` Spearman rank IC by holding day, same pairing as :attr:`ic` (computed on first use)."""
        return self._ic_series(True)


def _as_panel(name: str, array: np.ndarray, dtype: type, shape: tuple[int, ...] | None) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise SettingsError(f"{name} must be a 2-D (T, N) array, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise SettingsError(f"{name} has shape {arr.shape}, expected {shape} like the signal")
    if dtype is np.bool_ and arr.dtype != np.bool_:
        raise SettingsError(f"{name} must be a bool array, got dtype {arr.dtype}")
    if dtype is np.float64 and not np.issubdtype(arr.dtype, np.number):
        raise SettingsError(f"{name} must be numeric, got dtype {arr.dtype}")
    return read_only(np.ascontiguousarray(arr, dtype=dtype))  # one kernel signature (ops.threads)


def _group_codes(groups: np.ndarray | None, n: int, settings: BacktestSettings) -> tuple[np.ndarray, int]:
    """Re-code group labels to ``0..G-1`` (``-1`` stays excluded) for the chosen neutralization."""
    mode = settings.neutralization
    if mode in ("none", "market"):
        return np.zeros(n, dtype=np.int64), 1
    if groups is None:
        raise SettingsError(f"neutralization {mode!r} needs group codes (groups=None was given)")
    g = np.asarray(groups)
    if g.shape != (n,):
        raise SettingsError(f"groups must have shape ({n},) like the signal's columns, got {g.shape}")
    if not np.issubdtype(g.dtype, np.integer):
        raise SettingsError(f"groups must be integer codes (-1 = unknown), got dtype {g.dtype}")
    g = g.astype(np.int64)
    if (g < -1).any():
        raise SettingsError(f"group codes must be >= -1, got {int(g.min())}")
    known = g >= 0
    codes = np.full(n, -1, dtype=np.int64)
    if known.any():
        uniq, inv = np.unique(g[known], return_inverse=True)
        codes[known] = inv
        return codes, int(uniq.shape[0])
    return codes, 1


def _non_finite_reason(max_weight: np.ndarray, pnl: np.ndarray) -> str | None:
    """Why a backtest whose books or PnL hold a NaN/inf is degenerate (``None`` when all are finite).
    ``max_weight``: ``(T,)`` each book's largest ``|w|``, NaN or inf exactly when that book holds one."""
    bad_pnl = ~np.isfinite(pnl)
    bad_book = ~np.isfinite(max_weight)
    if not bad_pnl.any() and not bad_book.any():
        return None
    days = np.flatnonzero(bad_pnl)
    books = np.flatnonzero(bad_book)
    parts = []
    if days.size:
        parts.append(f"the PnL is not finite on {days.size} holding days (first: day {int(days[0])})")
    if books.size:
        parts.append(f"the book is not finite on {books.size} signal days (first: day {int(books[0])})")
    return "non-finite result: " + "; ".join(parts)


def _degenerate_reason(status: np.ndarray, valid: np.ndarray, settings: BacktestSettings) -> str | None:
    if (status == STATUS_TRADED).any():
        return None
    if valid.size == 0 or (valid == 0).all():
        return "all NaN: the signal has no finite value inside the universe"
    if (status == STATUS_FLAT).any():
        return (
            f"constant across stocks: nothing is left after {settings.neutralization} neutralization "
            "on any day"
        )
    assert (status == STATUS_FEW_STOCKS).all()
    return (
        f"too few valid stocks: no day has at least {settings.min_stocks} finite values "
        f"(at most {int(valid.max())})"
    )


def _masked_books(
    weights: np.ndarray, returns: np.ndarray, mask: np.ndarray | None, lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """By holding day: held stocks whose return is masked, and the PnL those returns would have booked."""
    T = weights.shape[0]
    count = np.zeros(T, dtype=np.int64)
    removed = np.zeros(T)
    if mask is None or lag >= T:
        return count, removed
    held = weights[:-lag]  # the book of signal day t is held on day t + lag
    hit = mask[lag:] & (held != 0.0)
    count[lag:] = hit.sum(axis=1)
    removed[lag:] = np.where(hit, held * returns[lag:], 0.0).sum(axis=1)
    return count, removed


def run_backtest(
    signal: np.ndarray,
    returns: np.ndarray,
    universe: np.ndarray,
    groups: np.ndarray | None = None,
    settings: BacktestSettings | None = None,
    *,
    parallel: bool | None = None,
) -> BacktestResult:
    """Backtest a ``(T, N)`` signal (see the module docstring for the exact rules).

    Args:
        signal: ``(T, N)`` float; NaN = no view on that stock that day.
        returns: ``(T, N)`` float, ``returns[t] = close[t]/close[t-1] - 1`` (cleaned as ``settings``
            say before they are booked; the array itself is never modified).
        universe: ``(T, N)`` bool, tradable stocks per day.
        groups: ``(N,)`` integer group codes for sector/industry/subindustry neutralization.
        settings: :class:`BacktestSettings` (defaults when ``None``).
        parallel: ``True``/``False`` force the parallel / one-thread kernels (same results); ``None``
            chooses by panel size and thread count (:func:`alpha_env.ops.threads.use_parallel`).

    Raises:
        SettingsError: wrong shapes or dtypes, missing groups for a group neutralization.
    """
    settings = settings if settings is not None else BacktestSettings()
    if not isinstance(settings, BacktestSettings):
        raise SettingsError(f"settings must be BacktestSettings, got {type(settings).__name__}")
    sig = _as_panel("signal", signal, np.float64, None)
    shape = sig.shape
    raw_ret = _as_panel("returns", returns, np.float64, shape)
    ret, mask = clean_returns(raw_ret, settings)
    ret = read_only(ret)
    uni = _as_panel("universe", universe, np.bool_, shape)
    codes, n_groups = _group_codes(groups, shape[1], settings)
    par = _parallel(sig.size, parallel)
    n_chunks = max(1, min(shape[0], 4 * numba.get_num_threads())) if par else 1
    kernel = backtest_kernel if par else backtest_kernel_serial
    (weights, gross_pnl, turnover, n_long, n_short, nan_held, coverage, status, valid, max_weight) = kernel(
        sig,
        ret,
        uni,
        codes,
        n_groups,
        settings.neutralization != "none",
        settings.decay,
        settings.delay,
        settings.truncation,
        settings.min_stocks,
        n_chunks,
    )
    cost = turnover * (settings.cost_bps * 1e-4)
    masked_held, removed_pnl = _masked_books(weights, raw_ret, mask, settings.lag)
    reason = _degenerate_reason(status, valid, settings)
    if reason is None:
        reason = _non_finite_reason(max_weight, gross_pnl - cost)
    return BacktestResult(
        settings=settings,
        weights=weights,
        pnl=gross_pnl - cost,
        gross_pnl=gross_pnl,
        turnover=turnover,
        cost=cost,
        long_count=n_long,
        short_count=n_short,
        nan_held=nan_held - masked_held,
        masked_held=masked_held,
        removed_pnl=removed_pnl,
        return_mask=mask,
        coverage=coverage,
        status=status,
        valid_count=valid,
        degenerate_reason=reason,
        _inputs=(sig, ret, uni),
        _parallel_mode=parallel,
        _derived={"max_weight": max_weight},  # the kernel's, the same as the property's NumPy reduction
    )
