"""An alpha pool: up to K member signals combined linearly, with an admission rule.

Each member's signal is z-scored across the universe's stocks per day (NaN and cells outside the
universe become 0 *after* scoring); the combined alpha is ``sum_k w_k(t) z_k[t]``, a ``(T, N)`` array
(NaN only on rows where a ``rolling`` model has no weights yet). The target ``z_y`` is the forward return
(:func:`~alpha_env.pool.targets.forward_returns`, horizon from the settings, the backtest's delay),
masked by the universe and z-scored per day the same way; cells where it is NaN are left out of every fit
and every IC.

*Fit cells* are the train rows whose target is known by the close of the last train day
(:func:`~alpha_env.pool.targets.fit_rows`) and the stocks of those rows with a finite target. Per day
``t`` the pool keeps, for every pair of members, ``G[k, l, t] = sum_i z_k z_l`` over the fit cells, and
``b[k, t] = sum_i z_k z_y``, ``s[k, t] = sum_i z_k`` (on the fit rows; on every row for ``rolling``):
everything below is computed from these sums.

* ``lstsq``: ``w = argmin sum_{fit cells} (sum_k w_k z_k - z_y)^2`` (normal equations
  ``(sum_t G) w = sum_t b``, solved by ``numpy.linalg.lstsq``).
* ``ridge``: ``(sum_t G / n + ridge_alpha I) w = sum_t b / n`` (``n`` fit cells).
* ``ic_weighted``: ``w_k = ic_k / sum_j |ic_j|`` (``ic_k``: member ``k``'s train IC, as below).
* ``rolling``: weights applied on signal day ``s`` are the ``lstsq`` weights fitted on rows
  ``[e - lookback, e)`` with ``e = s - delay - horizon``: row ``t``'s target is known at the close of
  ``t + delay + horizon < s``, i.e. before day ``s``. Refits on days ``0, r, 2r, ...`` (``r =
  refit_every``); a fit needs more cells with a target than members, else its rows get NaN weights.
* ``conditional``: weights that move with a state ``s(t)`` (``(T, J)``, known at the close of signal
  day ``t``, e.g. :func:`~alpha_env.pool.state.principal_state` of the news read up to ``t``):
  ``w_k(t) = sum_j B[k, j] u_j(t)`` with ``u(t) = (1, s(t))``, i.e. least squares on the regressors
  ``z_k u_j`` over the fit cells with the ``ridge`` penalty: ``(sum_t u u' (x) G / n + ridge_alpha I) B =
  sum_t u (x) b / n``. The state of a day never depends on later days, so valid/test rows use only what
  was known at their close; train rows are in-sample, as for ``lstsq``.
* Objective ``"ic"``: the mean over fit rows of the daily Pearson correlation of the combined signal with
  the target over the day's cells with a finite target (rows without weights are skipped); 0.0 for an
  empty pool. A member's *train IC* is this objective for the member alone.
* Correlation of two members: the mean over fit rows of ``G[k, l, t] / sqrt(G[k, k, t] G[l, l, t])``, the
  daily cross-sectional correlation of their scored signals (exactly Pearson when both cover the same
  stocks).

Admission, rule ``"pool"`` (:meth:`AlphaPool.offer`): a candidate whose |correlation| with some members
exceeds ``max_corr`` replaces all of them if it is better (``replace_by``), else it is refused; otherwise it
joins, and when that makes ``capacity + 1`` members the one with the smallest contribution (objective
lost when it is removed and the weights refit) leaves, which refuses the candidate when it is that one.
Rule ``"alphagen"``: see ``docs/pool.md`` (AlphaGen's mutual-IC refusal and least-|weight| eviction).

Pruning (:meth:`AlphaPool.prune`, lstsq / ridge / conditional): backward elimination inside train. The
weights are fitted on the first train fit rows and scored (mean daily IC) on the last ``holdout`` share of
them, after a gap of ``delay + horizon`` rows so no fitted target is known inside the scored rows (the
pool's own split when its ``holdout`` setting is on); while removing some member raises that held-out IC,
the member whose removal raises it most leaves. The kept members are then refitted on every train fit
row. Nothing after the train split is read.

Cost of one offer: scoring the candidate (O(T N)) and, once it passes the significance gates (which read
the candidate alone), its dot products with the K cached members (O(K T N)); nothing of the members is
recomputed. Removal tests refit from the cached sums (O(K^3 + K^2 T)
each) unless the objective is a callable, which is called once per candidate pool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from alpha_env.errors import DataError, SettingsError
from alpha_env.ops.crosssection import zscore
from alpha_env.pool.scoring import score_into
from alpha_env.pool.settings import PoolSettings
from alpha_env.pool.targets import check_delay, fit_rows, forward_returns, known_lag

__all__ = ["AlphaPool", "PoolMember", "OfferResult", "PruneResult", "PoolSettings", "sharpe_objective"]


@dataclass(frozen=True)
class PoolMember:
    """A member: its expression text, its signal as offered ``(T, N)``, its weight and train IC.

    ``weight`` is the weight in force on the last train day (constant for every model but ``rolling``).
    """

    expr: str
    signal: np.ndarray
    weight: float
    ic: float


@dataclass(frozen=True)
class OfferResult:
    """What an :meth:`AlphaPool.offer` did.

    Attributes:
        accepted: the candidate is now a member.
        replaced: expressions of the members that left because of this offer.
        objective_before, objective_after: pool objective before and after (equal when refused).
        gain: ``objective_after - objective_before`` when accepted, exactly 0.0 when refused.
        reason: one line saying why.
    """

    accepted: bool
    replaced: tuple[str, ...]
    objective_before: float
    objective_after: float
    gain: float
    reason: str


def split_holdout(full: slice, share: float, horizon: int, delay: int, what: str) -> tuple[slice, slice]:
    """``(fit rows, held-out rows)`` of the fit rows ``full``: the last ``share`` of them held out, the fit
    rows ending ``delay + horizon`` rows before (no fitted target is known inside the held-out rows).

    Raises:
        DataError: either part would have fewer than 2 rows (``what`` names the setting in the message).
    """
    start = full.start + int(round((full.stop - full.start) * (1.0 - share)))
    fit = slice(full.start, max(full.start, start - known_lag(horizon, delay)))
    held = slice(start, full.stop)
    if fit.stop - fit.start < 2 or held.stop - held.start < 2:
        raise DataError(f"the train split's {full.stop - full.start} fit rows cannot hold a {what} of "
                        f"{share:.0%} and the fit rows before it")
    return fit, held


@dataclass(frozen=True)
class PruneResult:
    """What :meth:`AlphaPool.prune` did.

    Attributes:
        removed: expressions that left, in the order they left.
        kept: expressions that stayed, in member order.
        held_ic_before / held_ic_after: mean daily IC of the combined signal on the held-out train rows,
            weights fitted on the rows before them, with every member / with the kept ones.
        fit_rows / held_rows: ``(start, stop)`` signal rows of the inner fit and of the held-out score.
    """

    removed: tuple[str, ...]
    kept: tuple[str, ...]
    held_ic_before: float
    held_ic_after: float
    fit_rows: tuple[int, int]
    held_rows: tuple[int, int]


def sharpe_objective(returns: np.ndarray, universe: np.ndarray, train: slice, settings: Any = None):
    """An objective callable: the annualised train Sharpe of the backtest of the combined signal.

    ``settings`` is a :class:`~alpha_env.backtest.BacktestSettings` (the default one when ``None``); its
    delay should be the pool's.
    """
    from alpha_env.backtest import BacktestSettings, run_backtest, window_metrics

    bt = settings if settings is not None else BacktestSettings()

    def objective(combined: np.ndarray) -> float:
        res = run_backtest(combined, returns, universe, None, bt)
        return float(window_metrics(res, train, with_rank_ic=False)["sharpe"])

    return objective


def _daily_corr(cov: np.ndarray, vx: np.ndarray, vy: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Pearson correlation per day from centred sums; NaN with < 3 cells or no spread."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / (np.sqrt(vx) * np.sqrt(vy))
    ok = (n >= 3) & (vx > 0.0) & (vy > 0.0) & np.isfinite(r)
    return np.where(ok, r, np.nan)


def _nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def _t_stat(daily: np.ndarray) -> float:
    """t-statistic of the mean of a daily IC series (its finite days): mean / sd · sqrt(days)."""
    ic = daily[np.isfinite(daily)]
    if ic.size < 3 or not ic.std(ddof=1) > 0:
        return float("nan")
    return float(ic.mean() / ic.std(ddof=1) * np.sqrt(ic.size))


class AlphaPool:
    """Up to ``settings.capacity`` alphas, combined by ``settings.model`` (see the module docstring).

    Args:
        close: ``(T, N)`` closing prices (the target is built from them).
        splits: signal-row slices by name; ``"train"`` is required (the others name ``combined`` rows).
        settings: the :class:`PoolSettings`.
        universe: ``(T, N)`` bool, tradable stocks (all when ``None``).
        delay: the backtest delay the target is aligned with (days).
        objective_fn: the objective of a combined ``(T, N)`` signal for a named non-IC objective (default:
            the train Sharpe); it must read no row at or after the train split's end (a candidate offered
            with its first :attr:`signal_rows` dates has zeros after them).
        state: ``(T, J)`` the daily state of a ``conditional`` model (row ``t`` known at the close of
            ``t``; finite); required by that model, refused by the others.
        state_label: what the state is (part of the pool's key; e.g. ``"news(days=5,dim=1)"``).

    Example::

        pool = AlphaPool.from_panel(panel, PoolSettings(capacity=10))
        r = pool.offer("rank(-delta(close, 5))", Evaluator(panel).evaluate("rank(-delta(close, 5))"))
        r.accepted, r.gain, pool.combined("valid").shape
    """

    def __init__(
        self,
        close: np.ndarray,
        splits: Mapping[str, slice],
        settings: PoolSettings | None = None,
        *,
        universe: np.ndarray | None = None,
        delay: int = 1,
        objective_fn: Callable[[np.ndarray], float] | None = None,
        state: np.ndarray | None = None,
        state_label: str = "custom",
    ):
        self.settings = settings if settings is not None else PoolSettings()
        self.delay = check_delay(delay)
        close = np.asarray(close, dtype=np.float64)
        if close.ndim != 2:
            raise DataError(f"close must be a (dates x stocks) array, got shape {close.shape}")
        T, N = close.shape
        if "train" not in splits:
            raise DataError(f"splits have no 'train' (got {', '.join(splits) or 'none'})")
        self.shape = (T, N)
        self.splits = {name: slice(*sl.indices(T)[:2]) for name, sl in splits.items()}
        uni = np.ones((T, N), bool) if universe is None else np.asarray(universe, dtype=bool)
        if uni.shape != (T, N):
            raise DataError(f"universe has shape {uni.shape}, expected {(T, N)}")
        self.universe = uni
        self.state, self.state_label = self._check_state(state, T), str(state_label)
        h = self.settings.horizon
        full = fit_rows(self.splits["train"], horizon=h, delay=self.delay, n_dates=T)
        self.fit, self.score_rows = full, full  # rows the weights are fitted on / the objective is scored on
        if self.settings.holdout > 0:
            self.fit, self.score_rows = split_holdout(full, self.settings.holdout, h, self.delay, "holdout")
        self._rows = slice(0, T) if self.settings.model == "rolling" else full
        y = forward_returns(close, horizon=h, delay=self.delay)
        zy = zscore(np.where(uni, y, np.nan))
        self._mask = np.isfinite(zy)
        self._zy = np.where(self._mask, zy, 0.0)
        self._n = self._mask.sum(axis=1).astype(np.float64)
        self._sy = self._zy.sum(axis=1)
        self._syy = np.einsum("tn,tn->t", self._zy, self._zy)
        S = self.settings.capacity + 1  # slots: the members and one candidate
        # the slots' z-scores and the per-day sums, day-major: a slice of days is one contiguous block, and
        # a day's rows of every slot lie together (one pass of a candidate's day against all members)
        self._Z = np.zeros((T, S, N))
        self._G = np.zeros((T, S, S))
        self._b = np.zeros((T, S))
        self._s = np.zeros((T, S))
        self._Gc = np.zeros((T + 1, S, S))  # running sums over days: window sums for the fits
        self._bc = np.zeros((T + 1, S))
        self._exprs: list[str] = []
        self._signals: list[np.ndarray] = []
        self._slots: list[int] = []
        self._ics: list[float] = []
        self._w: np.ndarray = np.zeros(S)  # weights by slot: (S,) or (T, S) for ``rolling``
        self._objective = 0.0
        objective = self.settings.objective
        if objective_fn is None and objective == "sharpe":
            from alpha_env.backtest import BacktestSettings

            with np.errstate(divide="ignore", invalid="ignore"):
                returns = np.vstack([np.full((1, N), np.nan), close[1:] / close[:-1] - 1.0])
            objective_fn = sharpe_objective(returns, uni, self.splits["train"],
                                            BacktestSettings(delay=self.delay))
        elif objective_fn is None and callable(objective):
            objective_fn = objective
        self._objective_fn = objective_fn  # None: the IC objective

    def _check_state(self, state: np.ndarray | None, T: int) -> np.ndarray | None:
        conditional = self.settings.model == "conditional"
        if state is None:
            if conditional:
                raise SettingsError("pool model 'conditional' needs a daily state (T x J), e.g. the news "
                                    "state alpha_env.ace.pools.new_pool builds from the panel's documents")
            return None
        if not conditional:
            raise SettingsError(f"a daily state applies to pool model 'conditional', not "
                                f"{self.settings.model!r}")
        u = np.asarray(state, dtype=np.float64)
        u = u[:, None] if u.ndim == 1 else u
        if u.ndim != 2 or u.shape[0] != T:
            raise DataError(f"pool state has shape {np.shape(state)}, expected ({T}, J): one row per date")
        if not np.isfinite(u).all():
            raise DataError(f"pool state: day {int(np.flatnonzero(~np.isfinite(u).all(axis=1))[0])} has a "
                            "non-finite value")
        return np.hstack([np.ones((T, 1)), u])

    @classmethod
    def from_panel(cls, panel: Any, settings: PoolSettings | None = None, *, delay: int = 1,
                   objective_fn: Callable[[np.ndarray], float] | None = None,
                   state: np.ndarray | None = None, state_label: str = "custom") -> AlphaPool:
        """A pool on a :class:`~alpha_env.data.MarketPanel` (its close, splits and universe).

        ``objective_fn`` overrides how a named non-IC objective is computed (the env passes the ACE's
        train Sharpe of the combined signal, with the ACE's own backtest settings and universe);
        ``state`` is the ``conditional`` model's daily state."""
        return cls(panel.field("close"), panel.splits, settings, universe=panel.universe, delay=delay,
                   objective_fn=objective_fn, state=state, state_label=state_label)

    # ------------------------------------------------------------------ state
    def __len__(self) -> int:
        return len(self._exprs)

    @property
    def objective(self) -> float:
        """The current pool objective (0.0 when empty)."""
        return self._objective

    @property
    def members(self) -> tuple[PoolMember, ...]:
        """Members in admission order, with the weights in force on the last train day."""
        w = self.weights
        return tuple(PoolMember(e, s, float(w[i]), ic)
                     for i, (e, s, ic) in enumerate(zip(self._exprs, self._signals, self._ics, strict=True)))

    @property
    def weights(self) -> np.ndarray:
        """``(K,)`` weights in force on the last train day, in member order."""
        return self.weight_path()[max(self.splits["train"].stop - 1, 0)]

    def weight_path(self) -> np.ndarray:
        """``(T, K)`` weights applied on each signal day, member order (rows equal except for
        ``rolling`` and ``conditional``; NaN: no weights that day)."""
        w = np.broadcast_to(self._w, (self.shape[0], self._w.shape[-1]))
        return np.array(w[:, self._slots], copy=True)

    def combined(self, split: str | None = None) -> np.ndarray:
        """The combined signal ``sum_k w_k z_k``: ``(T, N)``, or the rows of ``split`` (NaN where no
        weights; all NaN for an empty pool)."""
        return self._combine(self._slots, self._w, split)

    def _combine(self, slots: list[int], w: np.ndarray, split: str | None = None) -> np.ndarray:
        rows = slice(None) if split is None else self._split(split)
        if not slots:
            return np.full(self.shape, np.nan)[rows]
        out = np.zeros(self.shape)
        for k in slots:
            if w.ndim == 1:
                out += w[k] * self._Z[:, k]
            else:
                out += np.where(np.isfinite(w[:, k]), w[:, k], 0.0)[:, None] * self._Z[:, k]
        if w.ndim == 2:
            out[~np.isfinite(w[:, slots]).all(axis=1)] = np.nan
        return out[rows]

    def _split(self, name: str) -> slice:
        if name not in self.splits:
            raise DataError(f"unknown split {name!r} (known: {', '.join(self.splits)})")
        return self.splits[name]

    # ------------------------------------------------------------------ cached sums
    @property
    def signal_rows(self) -> int:
        """How many leading dates of a candidate's signal :meth:`offer` reads: up to the train split's end
        (its fit, its correlations, its objective: ``objective_fn`` must read no later row), every date
        for the ``rolling`` model (its weights are refitted after train)."""
        T = self.shape[0]
        if self.settings.model == "rolling":
            return T
        return max(1, min(T, self.splits["train"].indices(T)[1]))

    def _load(self, slot: int, signal: np.ndarray, expr: str, *, partial: bool = False,
              cross: bool = True) -> None:
        """Score ``signal`` into ``slot`` and fill its row/column of the per-day sums (members only);
        ``partial``: ``signal`` may hold only its first ``signal_rows`` (or more) dates, the rest of the
        slot is 0 until :meth:`_complete` fills it. ``cross=False`` fills only what the slot's own daily IC
        reads (its z-scores, ``G[slot, slot]``, ``b``, ``s``; the rest of its row and column 0):
        :meth:`offer` decides its significance gates before it pays the dot products with every member
        (:meth:`_load_cross`)."""
        x = np.asarray(signal, dtype=np.float64)
        T, N = self.shape
        R = x.shape[0] if x.ndim == 2 else -1
        if x.ndim != 2 or x.shape[1] != N or not (R == T or (partial and self.signal_rows <= R < T)):
            need = f"{self.shape}" if not partial else f"(R, {N}) with {self.signal_rows} <= R <= {T}"
            raise DataError(f"signal of {expr!r} has shape {x.shape}, the pool's panel needs {need}")
        Z = self._Z[:, slot]
        r = self._rows  # the rows any model reads: the fit rows, or every row for ``rolling``
        start, stop, _ = r.indices(T)
        zm = np.zeros((stop - start, N))  # rows from R on are 0 (as their scores, until _complete)
        scored = slice(min(start, R), min(stop, R))
        zm[: scored.stop - scored.start] = score_into(x, self.universe[:R], self._Z, slot, 0, self._mask,
                                                      scored)
        Z[R:] = 0.0
        Zr = Z[r]
        G = self._G
        G[:, slot, :] = 0.0
        G[:, :, slot] = 0.0
        # each day's dot product is einsum's, the same bits whatever slots one call covers
        G[r, slot, slot] = np.einsum("tsn,tn->ts", self._Z[r, slot:slot + 1], zm)[:, 0]
        self._b[:, slot] = 0.0
        self._b[r, slot] = np.einsum("tn,tn->t", Zr, self._zy[r])
        self._s[:, slot] = 0.0
        self._s[r, slot] = zm.sum(axis=1)
        if cross:
            self._load_cross(slot)

    def _load_cross(self, slot: int) -> None:
        """The loaded ``slot``'s dot products with every member (its row and column of ``G``) and its
        running sums (``Gc``, ``bc``: what the fits read)."""
        r = self._rows
        zm = self._Z[r, slot] * self._mask[r]
        G = self._G
        if self._slots:
            # every slot up to the last member against the candidate, one day at a time (the products of
            # slots that hold no member are not used)
            hi = max(self._slots) + 1
            dots = np.einsum("tsn,tn->ts", self._Z[r, :hi], zm)
            for k in self._slots:
                G[r, slot, k] = dots[:, k]
            G[:, :, slot] = G[:, slot, :]
        np.cumsum(G[:, slot, :], axis=0, out=self._Gc[1:, slot, :])
        self._Gc[:, :, slot] = self._Gc[:, slot, :]
        np.cumsum(self._b[:, slot], out=self._bc[1:, slot])

    def _daily_ic(self, w: np.ndarray, rows: slice) -> np.ndarray:
        """Daily Pearson IC of ``sum_k w_k z_k`` (``w`` by slot, ``(S,)`` or ``(T, S)``) with the
        target over ``rows``."""
        G = self._G[rows]
        if w.ndim == 1:
            sc = self._s[rows] @ w
            scc = (G @ w) @ w
            scy = self._b[rows] @ w
        else:
            wr = np.where(np.isfinite(w[rows]), w[rows], 0.0)
            sc = (self._s[rows] * wr).sum(axis=1)
            scc = (np.matmul(G, wr[:, :, None])[:, :, 0] * wr).sum(axis=1)
            scy = (self._b[rows] * wr).sum(axis=1)
        n = self._n[rows]
        sy = self._sy[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = scy - sc * sy / n
            vx = scc - sc * sc / n
            vy = self._syy[rows] - sy * sy / n
        vx = np.where(vx > 1e-12 * np.maximum(scc, 0.0), vx, 0.0)  # a rounding residue is no spread
        ic = _daily_corr(cov, vx, vy, n)
        if w.ndim == 2:
            ic[~np.isfinite(w[rows]).all(axis=1)] = np.nan
        return ic

    def _unit(self, slot: int) -> np.ndarray:
        w = np.zeros(self._G.shape[1])
        w[slot] = 1.0
        return w

    def _single_daily_ic(self, slot: int) -> np.ndarray:
        """Daily IC of ``slot`` alone on the score rows (one value per row)."""
        return self._daily_ic(self._unit(slot), self.score_rows)

    def _single_ic(self, slot: int) -> float:
        return _nanmean(self._single_daily_ic(slot))

    def _corr(self, a: int, slots: list[int]) -> np.ndarray:
        """Mean daily correlation of slot ``a`` with each of ``slots`` over the fit rows."""
        if not slots:
            return np.zeros(0)
        G = self._G[self.fit]
        ix = np.asarray(slots)
        c = _daily_corr(G[:, a, ix], G[:, a, a][:, None], G[:, ix, ix], np.full((G.shape[0], 1), 3.0))
        return np.array([_nanmean(c[:, i]) for i in range(len(slots))])

    # ------------------------------------------------------------------ models
    def _solve(self, slots: list[int], start: int, stop: int, ridge: float = 0.0) -> np.ndarray:
        """Least-squares weights by slot (0 outside ``slots``) on the rows ``[start, stop)``."""
        ix = np.asarray(slots)
        A = (self._Gc[stop] - self._Gc[start])[np.ix_(ix, ix)]
        c = (self._bc[stop] - self._bc[start])[ix]
        if ridge > 0.0:
            n = max(float(self._n[start:stop].sum()), 1.0)
            x = np.linalg.solve(A / n + ridge * np.eye(len(slots)), c / n)
        else:
            x = np.linalg.lstsq(A, c, rcond=None)[0]
        w = np.zeros(self._G.shape[1])
        w[ix] = x
        return w

    def _fit(self, slots: list[int], rows: slice | None = None) -> np.ndarray:
        """Weights by slot of the pool ``slots`` under the settings' model / rule: ``(S,)`` or
        ``(T, S)`` (``rolling``, ``conditional``); ``rows`` (lstsq, ridge, conditional): fit rows other than
        the pool's own (``prune``)."""
        st = self.settings
        if not slots:
            return np.zeros(self._G.shape[1])
        if st.rule == "alphagen":
            return self._alphagen_weights(slots)
        rows = self.fit if rows is None else rows
        if st.model in ("lstsq", "ridge"):
            ridge = st.ridge_alpha if st.model == "ridge" else 0.0
            return self._solve(slots, rows.start, rows.stop, ridge)
        if st.model == "ic_weighted":
            w = np.zeros(self._G.shape[1])
            for k in slots:
                w[k] = self._single_ic(k)
            tot = np.abs(w).sum()
            return w / tot if tot > 0 else w
        if st.model == "conditional":
            return self._conditional(slots, rows)
        return self._rolling(slots)

    def _conditional(self, slots: list[int], rows: slice) -> np.ndarray:
        """``(T, S)`` weights ``u(t) @ B.T`` of the state-conditioned least squares (module docstring),
        fitted on ``rows``."""
        assert self.state is not None  # checked when built
        ix = np.asarray(slots)
        u = self.state[rows]
        K, J = ix.size, u.shape[1]
        G = self._G[rows][:, ix][:, :, ix]
        A = np.einsum("tj,tl,tkm->kjml", u, u, G).reshape(K * J, K * J)
        c = np.einsum("tj,tk->kj", u, self._b[rows][:, ix]).reshape(K * J)
        n = max(float(self._n[rows].sum()), 1.0)
        if self.settings.ridge_alpha > 0:
            x = np.linalg.solve(A / n + self.settings.ridge_alpha * np.eye(K * J), c / n)
        else:
            x = np.linalg.lstsq(A, c, rcond=None)[0]
        W = np.zeros((self.shape[0], self._G.shape[1]))
        W[:, ix] = self.state @ x.reshape(K, J).T
        return W

    def _rolling(self, slots: list[int]) -> np.ndarray:
        st = self.settings
        T = self.shape[0]
        lag = self.delay + st.horizon
        W = np.full((T, self._G.shape[1]), np.nan)
        for s in range(0, T, st.refit_every):
            e = max(0, s - lag)
            a = max(0, e - st.lookback)
            if self._n[a:e].sum() > len(slots):
                W[s : s + st.refit_every] = self._solve(slots, a, e)
        return W

    def _alphagen_weights(self, slots: list[int]) -> np.ndarray:
        """AlphaGen's least squares in IC space: ``mutual_ic @ w = single_ic`` (weights by slot)."""
        K = len(slots)
        M = np.eye(K)
        for i in range(K - 1):
            M[i, i + 1 :] = M[i + 1 :, i] = self._corr(slots[i], slots[i + 1 :])
        ic = np.array([self._single_ic(k) for k in slots])
        w = np.zeros(self._G.shape[1])
        w[np.asarray(slots)] = np.linalg.lstsq(np.nan_to_num(M), ic, rcond=None)[0]
        return w

    def _score(self, slots: list[int], w: np.ndarray) -> float:
        if not slots:
            return 0.0
        if self._objective_fn is None:
            return _nanmean(self._daily_ic(w, self.score_rows))
        return float(self._objective_fn(self._combine(slots, w)))

    def _evaluate(self, slots: list[int]) -> tuple[float, np.ndarray]:
        w = self._fit(slots)
        return self._score(slots, w), w

    # ------------------------------------------------------------------ admission
    def add(self, expr: str, signal: np.ndarray) -> None:
        """Make ``signal`` a member without the admission rule (e.g. to rebuild a stored pool) and refit.

        Raises:
            DataError: the pool is full, ``expr`` is already a member, or the signal's shape differs.
        """
        if len(self) >= self.settings.capacity:
            raise DataError(f"pool is full ({self.settings.capacity} members); cannot add {expr!r}")
        if expr in self._exprs:
            raise DataError(f"{expr!r} is already a member of the pool")
        slot = self._free_slot()
        self._load(slot, signal, expr)
        self._commit(expr, signal, slot, [], None)

    def offer(self, expr: str, signal: np.ndarray, *,
              full: Callable[[], np.ndarray] | None = None) -> OfferResult:
        """Offer a candidate alpha; the pool keeps it or not by the settings' rule.

        Args:
            expr: the candidate's canonical text (its name in the pool).
            signal: ``(T, N)``, or its first ``R`` dates ``(R, N)`` with ``signal_rows <= R < T``: what the
                admission reads (the train rows). Rows past the train split never decide an offer.
            full: with a partial ``signal``, returns the ``(T, N)`` signal; called only when the
                candidate is admitted (a member's combined signal covers every date).

        Raises:
            DataError: a wrong shape, or a partial signal without ``full``.
        """
        before = self._objective
        if expr in self._exprs:
            return self._refuse(before, f"{expr!r} is already a member")
        shape = np.shape(signal)
        if (full is None and len(shape) == 2 and shape[1] == self.shape[1]
                and self.signal_rows <= (rows := shape[0]) < self.shape[0]):
            raise DataError(f"signal of {expr!r} covers {rows} of {self.shape[0]} dates: pass full= (the "
                            "whole signal, asked for when the candidate is admitted)")
        slot = self._free_slot()
        self._load(slot, signal, expr, partial=True, cross=False)  # the gates read the candidate alone
        daily = self._single_daily_ic(slot)  # one series for the IC and both significance gates
        ic = _nanmean(daily)
        if not np.isfinite(ic):
            return self._refuse(before, f"{expr!r} has no defined train IC")
        if self.settings.min_ic_t > 0:
            t = _t_stat(daily)
            if not abs(t) >= self.settings.min_ic_t:
                return self._refuse(before, f"train IC t-statistic {t:.2f} is below min_ic_t "
                                            f"{self.settings.min_ic_t:g}")
        if self.settings.min_half_ic_t > 0:
            middle = daily.shape[0] // 2
            for half, name in ((daily[:middle], "first"), (daily[middle:], "second")):
                t = _t_stat(half) * np.sign(ic)
                if not t >= self.settings.min_half_ic_t:
                    return self._refuse(before, f"train IC t-statistic {t:.2f} in the {name} half of train "
                                                f"(signed as the whole) is below min_half_ic_t "
                                                f"{self.settings.min_half_ic_t:g}")
        self._load_cross(slot)
        if self.settings.rule == "alphagen":
            return self._offer_alphagen(expr, signal, slot, before, full)
        corr = self._corr(slot, self._slots)
        hits = [i for i in range(len(self)) if abs(corr[i]) > self.settings.max_corr]
        if hits:
            keep = [k for i, k in enumerate(self._slots) if i not in hits]
            obj, W = self._evaluate([*keep, slot])
            if self.settings.replace_by == "ic":
                better = abs(ic) > max(abs(self._ics[i]) for i in hits)
            else:
                better = obj > before
            names = tuple(self._exprs[i] for i in hits)
            worst = max(hits, key=lambda i: abs(corr[i]))
            if not better:
                why = f"correlates {corr[worst]:.3f} with member {self._exprs[worst]!r} and is not better"
                return self._refuse(before, why)
            self._commit(expr, signal, slot, hits, (obj, W), full)
            return self._accept(before, names, f"replaced {len(hits)} correlated member(s)")
        slots = [*self._slots, slot]
        obj, W = self._evaluate(slots)
        if len(slots) <= self.settings.capacity:
            self._commit(expr, signal, slot, [], (obj, W), full)
            return self._accept(before, (), "added")
        losses = [obj - self._evaluate([k for k in slots if k != j])[0] for j in slots]
        out = int(np.nanargmin(np.where(np.isfinite(losses), losses, np.inf)))
        if out == len(self):
            return self._refuse(before, "smallest contribution in a full pool")
        name = self._exprs[out]
        self._commit(expr, signal, slot, [out], None, full)
        return self._accept(before, (name,), "added; smallest contribution left")

    def _offer_alphagen(self, expr: str, signal: np.ndarray, slot: int, before: float,
                        full: Callable[[], np.ndarray] | None) -> OfferResult:
        corr = self._corr(slot, self._slots)
        over = np.flatnonzero(corr > self.settings.max_corr)  # signed, as AlphaGen compares
        if over.size:
            i = int(over[0])
            return self._refuse(before, f"mutual IC {corr[i]:.3f} with member {self._exprs[i]!r} above "
                                        f"{self.settings.max_corr}")
        slots = [*self._slots, slot]
        w = self._alphagen_weights(slots)
        if len(slots) <= self.settings.capacity:
            self._commit(expr, signal, slot, [], (self._score(slots, w), w), full)
            return self._accept(before, (), "added")
        out = int(np.argmin(np.abs(w[np.asarray(slots)])))
        if out == len(self):
            return self._refuse(before, "least |weight| in a full pool")
        name = self._exprs[out]
        kept = [k for i, k in enumerate(slots) if i != out]
        w = w.copy()
        w[slots[out]] = 0.0  # AlphaGen keeps the other weights of this fit
        self._commit(expr, signal, slot, [out], (self._score(kept, w), w), full)
        return self._accept(before, (name,), "added; least |weight| left")

    # ------------------------------------------------------------------ pruning
    def prune(self, holdout: float = 0.3) -> PruneResult:
        """Remove, by backward elimination inside train, the members that lower the combined signal's
        held-out IC (module docstring, *Pruning*), then refit the kept ones on every train fit row.

        Args:
            holdout: share of the train fit rows held out for scoring, in (0, 1); ignored when the pool's
                own ``holdout`` setting is on (its split is used).

        Raises:
            SettingsError: a model or rule without a train-only refit (``ic_weighted``, ``rolling``,
                ``alphagen``), or ``holdout`` outside (0, 1).
            DataError: the train split is too short for the split.
        """
        st = self.settings
        if st.rule == "alphagen" or st.model not in ("lstsq", "ridge", "conditional"):
            raise SettingsError(f"prune applies to pool models lstsq, ridge and conditional with rule "
                                f"'pool', not model {st.model!r} with rule {st.rule!r}")
        if st.holdout > 0:
            inner, held = self.fit, self.score_rows
        else:
            if not 0.0 < holdout < 1.0:
                raise SettingsError(f"prune holdout must be a share in (0, 1), got {holdout!r}")
            inner, held = split_holdout(self.fit, holdout, st.horizon, self.delay, "prune holdout")

        def held_ic(slots: list[int]) -> float:
            return _nanmean(self._daily_ic(self._fit(slots, inner), held)) if slots else float("-inf")

        current = list(self._slots)
        before = best = held_ic(current)
        removed: list[str] = []
        while len(current) > 1:
            scores = [held_ic([k for k in current if k != j]) for j in current]
            j = int(np.nanargmax(np.where(np.isfinite(scores), scores, -np.inf)))
            if not scores[j] > best:
                break
            best = scores[j]
            removed.append(self._exprs[self._slots.index(current[j])])
            del current[j]
        for expr in removed:
            i = self._exprs.index(expr)
            del self._exprs[i], self._signals[i], self._slots[i], self._ics[i]
        if removed:
            obj, w = self._evaluate(self._slots)
            self._objective, self._w = float(obj), np.array(w, copy=True)
        return PruneResult(tuple(removed), tuple(self._exprs), float(before), float(best),
                           (inner.start, inner.stop), (held.start, held.stop))

    # ------------------------------------------------------------------ bookkeeping
    def _free_slot(self) -> int:
        used = set(self._slots)
        return next(k for k in range(self.settings.capacity + 1) if k not in used)

    def _complete(self, expr: str, signal: np.ndarray, slot: int,
                  full: Callable[[], np.ndarray] | None) -> np.ndarray:
        """The whole ``(T, N)`` signal of an admitted candidate offered with its first dates only: asked
        for from :meth:`offer`'s ``full``, its later rows scored into ``slot`` (z-scores are per day)."""
        R, T = int(np.shape(signal)[0]), self.shape[0]
        if R == T:
            return signal
        whole = np.asarray(full(), dtype=np.float64) if full is not None else None
        if whole is None or whole.shape != self.shape:
            got = "nothing" if whole is None else f"shape {whole.shape}"
            raise DataError(f"full= of {expr!r} returned {got}, the pool's panel is {self.shape}")
        if not np.array_equal(whole[:R], signal, equal_nan=True):
            raise DataError(f"full= of {expr!r} returned a signal whose first {R} dates differ from the "
                            "offered ones")
        score_into(whole[R:], self.universe[R:], self._Z, slot, R)
        return whole

    def _commit(self, expr: str, signal: np.ndarray, slot: int, leave: list[int],
                fitted: tuple[float, np.ndarray] | None,
                full: Callable[[], np.ndarray] | None = None) -> None:
        signal = self._complete(expr, signal, slot, full)
        for i in sorted(leave, reverse=True):
            del self._exprs[i], self._signals[i], self._slots[i], self._ics[i]
        self._exprs.append(expr)
        self._signals.append(signal)
        self._slots.append(slot)
        self._ics.append(self._single_ic(slot))
        obj, w = fitted if fitted is not None else self._evaluate(self._slots)
        self._objective = float(obj)
        self._w = np.array(w, copy=True)

    def _refuse(self, before: float, reason: str) -> OfferResult:
        return OfferResult(False, (), before, before, 0.0, reason)

    def _accept(self, before: float, replaced: tuple[str, ...], reason: str) -> OfferResult:
        return OfferResult(True, replaced, before, self._objective, self._objective - before, reason)
