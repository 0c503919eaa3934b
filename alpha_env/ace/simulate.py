"""``ACE``: expression → signal → backtest → metrics per split and year → checks → id → (store).

Example::

    from alpha_env.ace import ACE, AlphaStore
    from alpha_env.data import synthetic_market

    ace = ACE(synthetic_market(seed=0), store=AlphaStore("alpha_env.db"))
    result = ace.simulate("rank(-delta(close, 5))")
    result.metrics["valid"]["sharpe"], result.alpha_id, result.passed
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

import alpha_env
from alpha_env.ace.checks import CheckResult, CheckThresholds, run_checks
from alpha_env.ace.ids import alpha_id
from alpha_env.ace.result import SimulationResult
from alpha_env.ace.settings import SimulationSettings
from alpha_env.ace.store import AlphaStore
from alpha_env.ace.submission import submit_alpha
from alpha_env.backtest import BacktestResult, run_backtest, split_metrics, window_metrics, yearly_metrics
from alpha_env.backtest.cleaning import clean_returns
from alpha_env.backtest.kernels import ic_days
from alpha_env.backtest.return_ranks import ReturnRanks
from alpha_env.errors import SettingsError, StoreError
from alpha_env.grammar import Expr, canonical, from_stack, parse
from alpha_env.ops.threads import use_parallel

if TYPE_CHECKING:
    from alpha_env.data import MarketPanel
    from alpha_env.evaluate import Evaluator

__all__ = ["ACE", "Score", "neutralization_groups", "simulation_universe", "return_cleaning_summary"]

#: Masked held returns listed by :func:`return_cleaning_summary` (largest removed PnL first).
CLEANING_LISTED = 10


@dataclass(frozen=True)
class Score:
    """The lean outcome of one alpha on one window (:meth:`ACE.score`): what a reward needs, nothing more.

    Attributes:
        alpha_id: the id the alpha has under the ACE's settings and panel.
        expression: canonical text (or the key of :meth:`ACE.score_signal`).
        tree: the expression tree (``None`` for :meth:`ACE.score_signal`).
        window: the ``slice`` of days (holding days) the metrics cover (``None``: no window metrics).
        metrics: :func:`~alpha_env.backtest.window_metrics` of the window (no yearly table, no checks).
        backtest: the backtest (``(R,)`` PnL, ``(R, N)`` weights, ...) of the dates scored, ``R = T`` unless
            ``score(..., rows=R)`` asked for fewer; :meth:`ACE.complete` turns the score into a full
            :class:`SimulationResult` without evaluating again (evaluating the rest when ``R < T``).
        signal: the ``(R, N)`` signal (read-only: it may live in the evaluator's cache).
        started_at: when the scoring began (UTC), kept for the full result's metadata.
        seconds: wall time of evaluation + backtest + window metrics.
    """

    alpha_id: str
    expression: str
    tree: Expr | None
    window: slice | None
    metrics: dict[str, float]
    backtest: BacktestResult
    signal: np.ndarray
    started_at: datetime
    seconds: float

    @property
    def degenerate_reason(self) -> str | None:
        """Why the whole backtest holds no usable book (``None`` when it does)."""
        return self.backtest.degenerate_reason

    @property
    def pnl(self) -> np.ndarray:
        """``(R,)`` daily net PnL, fraction of the book."""
        return self.backtest.pnl

    @property
    def rows(self) -> int:
        """How many leading dates were evaluated and backtested (``T`` unless ``score(..., rows=R)``)."""
        return int(self.signal.shape[0])


def neutralization_groups(panel: MarketPanel, mode: str) -> np.ndarray | None:
    """``(N,)`` group codes that ``mode`` (a validated neutralization) needs from ``panel`` (``None`` for
    ``none``/``market``).

    Raises:
        SettingsError: the panel has no group of that name.
    """
    if mode in ("none", "market"):
        return None
    if mode not in panel.group_names:
        raise SettingsError(
            f"neutralization {mode!r} needs a {mode!r} group, the panel has {', '.join(panel.group_names)}"
        )
    return panel.group(mode)


def simulation_universe(panel: MarketPanel, settings: SimulationSettings) -> np.ndarray:
    """``(T, N)`` bool universe of a simulation: the panel's, narrowed by ``min_price`` and ``top_n``."""
    universe = np.array(panel.universe, dtype=bool)
    if settings.min_price > 0:
        close = panel.field("close")
        with np.errstate(invalid="ignore"):
            universe &= close >= settings.min_price
    if settings.top_n is not None:
        from alpha_env.data import UniverseSpec, compute_universe

        meta = panel.metadata.get("universe") or {}
        spec = UniverseSpec(
            min_history=int(meta.get("min_history", 1)), top_n=settings.top_n, adv_window=settings.adv_window
        )
        volume = panel.field("volume") if panel.has_field("volume") else None
        universe &= compute_universe(panel.field("close"), volume, spec)
    return np.ascontiguousarray(universe)


def return_cleaning_summary(
    bt: BacktestResult, returns: np.ndarray, panel: MarketPanel, listed: int = CLEANING_LISTED
) -> dict[str, Any]:
    """What the return cleaning of a backtest did, JSON-ready (``metadata["return_cleaning"]`` of a result).

    Keys: ``masked_returns`` (stock-days of the panel masked), ``masked_held`` (held stock-days among
    them, which earned 0), ``removed_pnl`` (gross PnL, fraction of the book, those held returns would
    have booked), ``by_split`` (``masked_held`` and ``removed_pnl`` per split, by holding day) and
    ``largest`` (up to ``listed`` held masked returns, largest ``|removed PnL|`` first: ``ticker``,
    ``date``, ``return``, ``weight``, ``pnl``). ``returns`` are the panel's uncleaned ``(T, N)`` returns.
    """
    out: dict[str, Any] = {
        "masked_returns": bt.masked_returns,
        "masked_held": int(bt.masked_held.sum()),
        "removed_pnl": float(bt.removed_pnl.sum()),
        "by_split": {
            name: {"masked_held": int(bt.masked_held[sl].sum()),
                   "removed_pnl": float(bt.removed_pnl[sl].sum())}
            for name, sl in panel.splits.items()
        },
        "largest": [],
    }
    if bt.return_mask is None or out["masked_held"] == 0:
        return out
    pos = bt.positions()
    t_idx, i_idx = np.nonzero(bt.return_mask & (pos != 0.0))
    w = pos[t_idx, i_idx]
    r = returns[t_idx, i_idx]
    order = np.argsort(-np.abs(w * r), kind="stable")[:listed]
    out["largest"] = [
        {"ticker": str(panel.tickers[i_idx[k]]), "date": str(panel.dates[t_idx[k]]),
         "return": float(r[k]), "weight": float(w[k]), "pnl": float(w[k] * r[k])}
        for k in order
    ]
    return out


class ACE:
    """The Alpha Creation Environment: simulate, judge, identify and store alphas on one panel.

    Args:
        panel: the market data (:class:`~alpha_env.data.MarketPanel`).
        settings: :class:`SimulationSettings` (defaults when ``None``; a dict is accepted).
        store: an :class:`AlphaStore` to save every simulation to and to read submitted alphas from
            (``None``: nothing is stored, the correlation check has nothing to compare with).
        evaluator: an :class:`~alpha_env.evaluate.Evaluator` on the same panel (a new one when ``None``;
            pass one to share its sub-expression cache).
        thresholds: :class:`CheckThresholds` of the submission checks (defaults when ``None``).
        rank_ic: compute the rank IC metric (two sorts per day: the costliest metric, about as
            expensive as the backtest itself several times over); ``False`` leaves the key out.
        cache_bytes: sub-expression cache budget of the evaluator the ACE builds (``None``: the
            evaluator's default; only without ``evaluator``).
    """

    def __init__(
        self,
        panel: MarketPanel,
        settings: SimulationSettings | dict[str, Any] | None = None,
        store: AlphaStore | None = None,
        evaluator: Evaluator | None = None,
        thresholds: CheckThresholds | None = None,
        *,
        rank_ic: bool = True,
        cache_bytes: int | None = None,
    ):
        if settings is None:
            settings = SimulationSettings()
        elif isinstance(settings, dict):
            settings = SimulationSettings.from_dict(settings)
        elif not isinstance(settings, SimulationSettings):
            raise SettingsError(
                f"settings must be SimulationSettings or a dict, got {type(settings).__name__}"
            )
        if evaluator is None:
            from alpha_env.evaluate import Evaluator

            evaluator = Evaluator(panel) if cache_bytes is None else Evaluator(panel, cache_bytes=cache_bytes)
        elif cache_bytes is not None:
            raise SettingsError("cache_bytes applies only when the ACE builds its evaluator")
        elif evaluator.panel is not panel:
            raise SettingsError("the evaluator was built on another panel than the ACE's")
        self.panel = panel
        self.settings = settings
        self.store = store
        self.evaluator = evaluator
        self.thresholds = thresholds if thresholds is not None else CheckThresholds()
        self.rank_ic = bool(rank_ic)
        if self.thresholds.split not in panel.splits:
            raise SettingsError(
                f"check split {self.thresholds.split!r} is not a split of the panel "
                f"({', '.join(panel.splits)})"
            )
        self._backtest_settings = settings.backtest
        self._universe = simulation_universe(panel, settings)
        self._returns = np.ascontiguousarray(panel.field("returns"))
        self._groups = neutralization_groups(panel, settings.neutralization)
        self._settings_dict = settings.to_dict()
        self._splits = {k: v.indices(panel.n_dates)[:2] for k, v in panel.splits.items()}
        self._return_ranks: ReturnRanks | None = None  # built on the first rank IC

    def _ranks(self) -> ReturnRanks:
        """The forward returns' side of the rank IC, sorted once for this ACE (returns as its backtests
        book them, its universe and delay)."""
        if self._return_ranks is None:
            booked, _ = clean_returns(self._returns, self._backtest_settings)
            self._return_ranks = ReturnRanks(np.ascontiguousarray(booked), self._universe,
                                             self._backtest_settings.lag, use_parallel(self._returns.size))
        return self._return_ranks

    def _window_ic(self, bt: BacktestResult, ranked: bool, start: int, stop: int) -> np.ndarray:
        """``bt``'s Pearson or rank IC on the holding days ``start .. stop - 1`` only (NaN elsewhere; the
        full series when the backtest already holds it): bit for bit ``bt.ic`` / ``bt.rank_ic`` there."""
        if ranked in bt._ic:
            return bt._ic[ranked]
        if ranked:
            return self._rank_ic(bt, (start, stop))
        s = self._backtest_settings
        signal, returns, universe = bt._inputs
        return ic_days(signal, returns, universe, s.decay, s.delay, start, stop)

    def _rank_ic(self, bt: BacktestResult, days: tuple[int, int] | None = None) -> np.ndarray:
        """``bt``'s rank IC series (on the holding days ``days`` only, NaN elsewhere, when given) from the
        cached return side: bit for bit ``bt.rank_ic``."""
        signal = bt._inputs[0]
        return self._ranks().rank_ic(signal, self._backtest_settings.decay, days, use_parallel(signal.size))

    def canonical(self, expr: str | Expr | list) -> tuple[Expr, str]:
        """Parse (text) or rebuild (postfix list) ``expr``; return the tree and its canonical text."""
        if isinstance(expr, str):
            tree = parse(expr)
        elif isinstance(expr, list | tuple):
            tree = from_stack(list(expr))
        else:
            tree = expr
        return tree, canonical(tree)

    def alpha_id(self, expr: str | Expr) -> str:
        """The id ``expr`` gets under this ACE's settings and panel (without simulating)."""
        _, text = self.canonical(expr)
        return alpha_id(text, self._settings_dict, self.panel.dataset_id)

    def score(self, expr: str | Expr | list, window: slice | str | None = "train", *,
              rank_ic: bool | None = None, ic: bool = True, rows: int | None = None) -> Score:
        """Evaluate and backtest one alpha, with the metrics of one window only (the reward path).

        Args:
            expr: infix text, an expression tree, or an AlphaStack (postfix list).
            window: a split name of the panel, a ``slice`` of holding days, or ``None`` (no window
                metrics: ``metrics`` is empty).
            rank_ic: compute the rank IC (default: the ACE's ``rank_ic`` option).
            ic: compute the Pearson IC (a pass over the window's signal and returns); ``False`` leaves
                the ``ic`` key out of ``metrics`` (a caller whose reward does not read it, as the RL
                environment's Sharpe reward; :meth:`complete` computes every metric whatever ``ic``).
            rows: evaluate and backtest the first ``rows`` dates only, at least :meth:`window_rows`
                (``None``: every date). The window's metrics are the same bit for bit (every operator and
                the backtest are causal) for about ``rows / T`` of the cost, and nothing after the
                window's end is read: the verdict ``degenerate_reason`` then covers those dates only.

        Raises:
            ExpressionError: the expression is malformed or cannot be evaluated on this panel.
            SettingsError: ``window`` names no split of the panel, or ``rows`` does not cover it.
        """
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        tree, text = self.canonical(expr)
        if rows is not None:
            needed = self.window_rows(window)
            if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or not rows >= needed:
                raise SettingsError(f"rows must be an integer >= {needed} (the window's last day + 1, and "
                                    f"the day after it, which the return cleaning reads), got {rows!r}")
            rows = min(int(rows), self.panel.n_dates)
        signal = self.evaluator.evaluate(tree, rows=rows)
        return self._score(signal, text, tree, window, rank_ic, ic, started, t0)

    def bound_reason(self, expr: str | Expr | list, *, rows: int | None = None) -> str | None:
        """Why ``expr`` is degenerate under this ACE's backtest whatever the values within its fields'
        ranges on the first ``rows`` dates (``None``: every date), known without evaluating it, or ``None``
        when its bound does not decide (:meth:`~alpha_env.evaluate.Evaluator.bound`): all NaN, or one
        number for every stock on each day when the backtest demeans the signal as it is (a
        neutralization and no decay: a decay mixes days that stocks hold NaN differently, and without a
        neutralization a flat signal holds a book).

        Raises:
            ExpressionError: the expression is malformed or names a field this panel lacks.
        """
        tree, _ = self.canonical(expr)
        T = self.panel.n_dates
        bound = self.evaluator.bound(tree, rows=None if rows is None else min(int(rows), T))
        backtest = self._backtest_settings
        if bound.empty or (bound.flat and backtest.neutralization != "none" and backtest.decay <= 1):
            return bound.reason()
        return None

    def window_rows(self, window: slice | str | None) -> int:
        """The fewest leading dates :meth:`score` needs for ``window``'s metrics: its last holding day and
        the day after it (the glitch cleaning of a return reads the next day's), at most ``T``; ``T`` for
        ``window=None``.

        Raises:
            SettingsError: ``window`` names no split of the panel.
        """
        T = self.panel.n_dates
        if window is None:
            return T
        _, stop, _ = self._window_slice(window).indices(T)
        return min(T, stop + 1)

    def _window_slice(self, window: slice | str) -> slice:
        if isinstance(window, str):
            if window not in self.panel.splits:
                raise SettingsError(
                    f"window {window!r} is not a split of the panel ({', '.join(self.panel.splits)})")
            return self.panel.splits[window]
        return window

    def score_signal(self, signal: np.ndarray, key: str, window: slice | str | None = "train", *,
                     rank_ic: bool | None = None, ic: bool = True) -> Score:
        """:meth:`score` for a signal computed elsewhere (e.g. a pool's combined alpha).

        Args:
            signal: ``(T, N)`` float signal on this ACE's panel (NaN = no view).
            key: the canonical description of what produced the signal (e.g. a pool's members, weights
                and model); the id is ``alpha_id(key, settings, dataset)`` and ``expression`` is ``key``.
            window, rank_ic, ic: as in :meth:`score`.
        """
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        signal = np.asarray(signal, dtype=np.float64)
        if signal.shape != self._returns.shape:
            raise SettingsError(f"signal has shape {signal.shape}, the panel is {self._returns.shape}")
        return self._score(signal, str(key), None, window, rank_ic, ic, started, t0)

    def _score(self, signal: np.ndarray, text: str, tree: Expr | None, window: slice | str | None,
               rank_ic: bool | None, ic: bool, started: datetime, t0: float) -> Score:
        if window is not None:
            window = self._window_slice(window)
        R = signal.shape[0]
        returns, universe = (self._returns, self._universe) if R == self.panel.n_dates else (
            self._returns[:R], self._universe[:R])
        bt = run_backtest(signal, returns, universe, self._groups, self._backtest_settings)
        with_rank_ic = self.rank_ic if rank_ic is None else bool(rank_ic)
        metrics = {} if window is None else window_metrics(
            bt, window, with_rank_ic=with_rank_ic, with_ic=bool(ic), window_ic=partial(self._window_ic, bt))
        aid = alpha_id(text, self._settings_dict, self.panel.dataset_id)
        return Score(alpha_id=aid, expression=text, tree=tree, window=window, metrics=metrics, backtest=bt,
                     signal=signal, started_at=started, seconds=time.perf_counter() - t0)

    def full_signal(self, score: Score) -> np.ndarray:
        """The ``(T, N)`` signal of ``score``: its own, or, for a ``score(..., rows=R)`` of fewer dates, its
        expression evaluated on every date.

        Raises:
            SettingsError: a partial score without an expression tree.
        """
        if score.rows == self.panel.n_dates:
            return score.signal
        if score.tree is None:
            raise SettingsError(f"a score of the first {score.rows} dates of {score.expression!r} has no "
                                "expression tree to evaluate the rest with")
        return self.evaluator.evaluate(score.tree)

    def complete(self, score: Score) -> SimulationResult:
        """The full :class:`SimulationResult` of a :meth:`score` (metrics per split and year, checks,
        metadata) without evaluating the expression again."""
        t0 = time.perf_counter()
        if score.rows < self.panel.n_dates:  # scored on the first dates only: evaluate every date
            # no window metrics: the split and yearly metrics below are computed from the backtest
            score = self._score(self.full_signal(score), score.expression, score.tree, None, None, False,
                                score.started_at, time.perf_counter() - score.seconds)
        bt = score.backtest
        if self.rank_ic and True not in bt._ic:  # the engine's lazy rank IC, from the cached return side
            if False in bt._ic:
                bt._ic[True] = self._rank_ic(bt)
            else:  # and its Pearson IC from the same pass over the processed signal (the same bits)
                bt._ic[True], bt._ic[False] = self._ranks().rank_ic_and_ic(
                    bt._inputs[0], self._backtest_settings.decay, None, use_parallel(bt._inputs[0].size))
        metrics = split_metrics(bt, self.panel.splits, with_rank_ic=self.rank_ic)
        yearly = yearly_metrics(bt, self.panel.dates, with_rank_ic=self.rank_ic)
        checks = self._checks(score.alpha_id, metrics, bt.pnl, bt.degenerate_reason)
        stats = self.evaluator.cache_stats()
        metadata: dict[str, Any] = {
            "settings": dict(self._settings_dict),
            "dataset_id": self.panel.dataset_id,
            "code_version": alpha_env.CODE_VERSION,
            "started_at": score.started_at.isoformat(timespec="microseconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "run_time_s": score.seconds + (time.perf_counter() - t0),
            "splits": {k: [int(a), int(b)] for k, (a, b) in self._splits.items()},
            "check_split": self.thresholds.split,
            "cache": {"hits": stats.hits, "misses": stats.misses, "entries": stats.entries},
        }
        if self._backtest_settings.cleans_returns:
            metadata["return_cleaning"] = return_cleaning_summary(bt, self._returns, self.panel)
        return SimulationResult(
            alpha_id=score.alpha_id,
            expression=score.expression,
            metrics=metrics,
            yearly=yearly,
            pnl=bt.pnl,
            turnover=bt.turnover,
            dates=np.asarray(self.panel.dates, dtype="datetime64[D]"),
            checks=checks,
            metadata=metadata,
            degenerate_reason=bt.degenerate_reason,
            backtest=bt,
        )

    def simulate(self, expr: str | Expr | list, *, save: bool = True) -> SimulationResult:
        """Simulate one alpha: :meth:`score` then :meth:`complete` (and save).

        Args:
            expr: infix text, an expression tree, or an AlphaStack (postfix list).
            save: write the result to the store (when the ACE has one).

        Raises:
            ExpressionError: the expression is malformed or cannot be evaluated on this panel.
        """
        result = self.complete(self.score(expr, None))
        if save and self.store is not None:
            self.store.save(result)
        return result

    def _checks(
        self, aid: str, metrics: dict[str, dict[str, float]], pnl: np.ndarray, reason: str | None
    ) -> list[CheckResult]:
        submitted = self.store.submitted(exclude=aid) if self.store is not None else {}
        return run_checks(
            metrics,
            np.asarray(self.panel.dates, dtype="datetime64[D]"),
            pnl,
            self.panel.splits[self.thresholds.split],
            submitted,
            self.thresholds,
            reason,
        )

    def submit(self, expr_or_result: str | Expr | SimulationResult) -> tuple[bool, list[CheckResult]]:
        """Simulate (unless given a result), store, re-run the checks against the submitted alphas and
        record the submission. Returns ``(passed, checks)``. Needs a store.
        """
        if self.store is None:
            raise StoreError("submit needs an ACE with a store")
        if isinstance(expr_or_result, SimulationResult):
            result = expr_or_result
            if result.alpha_id not in self.store:
                self.store.save(result)
        else:
            result = self.simulate(expr_or_result)
        passed, checks, _ = submit_alpha(self.store, result.alpha_id, self.thresholds)
        return passed, checks
