"""Bookkeeping of the alphas a search found: rates per window, the best alphas, their per-split metrics.

:class:`AlphaTracker` sees every finished episode (one evaluation) and keeps

* the running history (:class:`alpha_env.search.random_search.SearchHistory`) for best-so-far curves,
* per-expression records (best reward, how often written) for the top-alpha table,
* window statistics since the last :meth:`AlphaTracker.window` call: valid rate, unique rate (share of
  episodes whose expression was new to the run), mean length,
* train / valid (and, only when asked, test) metrics of the best alphas, computed through an ACE that the
  tracker owns. These out-of-sample figures are for reports only: nothing here feeds back into training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from alpha_env.search.random_search import SearchHistory, episode_record

__all__ = ["AlphaRecord", "AlphaTracker", "WindowStats"]


@dataclass
class AlphaRecord:
    """One distinct expression seen during the search.

    Attributes:
        expression: canonical text.
        reward: the best episode reward it earned (train-split Sharpe in the default mode).
        count: how many episodes wrote it.
        first_seen: index of the evaluation that first wrote it (0-based).
        length: number of tokens (AlphaStack length) of the episode that first wrote it.
        alpha_id: the ACE alpha id reported by the environment, when given.
    """

    expression: str
    reward: float
    count: int
    first_seen: int
    length: int
    alpha_id: str | None = None


@dataclass(frozen=True)
class WindowStats:
    """Statistics of the episodes finished since the previous window.

    Attributes:
        episodes: number of finished episodes in the window.
        valid_rate: share of them that produced a valid, non-degenerate alpha.
        unique_rate: share of them whose expression had never been written before in the run.
        mean_length: mean number of tokens written per episode.
        mean_reward: mean episode reward.
        distinct_rate: distinct expressions among the window's episodes / episodes (1 = no repeats
            inside the window; a policy collapsed onto one expression gives 1 / episodes).
    """

    episodes: int
    valid_rate: float
    unique_rate: float
    mean_length: float
    mean_reward: float
    distinct_rate: float = float("nan")


class AlphaTracker:
    """Collects finished episodes; reports rates, the top alphas and their per-split metrics.

    Args:
        ace: an ``alpha_env.ace.ACE`` used to compute per-split metrics of the best alphas (or ``None``
            to report only the rewards seen).
        top_k: how many alphas the top table keeps.
        rank_by: a key of the episode's ``info["metrics"]`` (the reward window's metrics) recorded as each
            alpha's score instead of the episode reward (``None``: the reward). With the pool reward
            (the gain an alpha adds to the pool) ``rank_by="sharpe"`` keeps the best single alphas by
            train Sharpe; an episode without that metric (invalid, degenerate) keeps its reward.
    """

    def __init__(self, ace: Any | None = None, top_k: int = 10, rank_by: str | None = None):
        self.ace = ace
        self.top_k = int(top_k)
        self.rank_by = rank_by
        self.history = SearchHistory()
        self.records: dict[str, AlphaRecord] = {}
        self._seen: set[str] = set()
        self._metrics: dict[str, dict[str, dict[str, float]]] = {}
        self._window: list[tuple[bool, bool, int, float]] = []

    # ------------------------------------------------------------------ input
    def add(self, reward: float, info: dict[str, Any], length: int) -> None:
        """Record one finished episode from its total reward, its final ``info`` and its token count."""
        expression, valid = episode_record(info)
        if self.rank_by is not None and valid:
            value = (info.get("metrics") or {}).get(self.rank_by)
            if value is not None and np.isfinite(value):
                reward = float(value)
        index = len(self.history)
        self.history.add(reward, expression, valid, length)
        new = bool(expression) and expression not in self._seen
        self._seen.add(expression)
        if valid:
            rec = self.records.get(expression)
            if rec is None:
                self.records[expression] = AlphaRecord(
                    expression, float(reward), 1, index, int(length), info.get("alpha_id")
                )
            else:
                rec.count += 1
                rec.reward = max(rec.reward, float(reward))
        self._window.append((valid, new, int(length), float(reward), expression))

    # ----------------------------------------------------------------- persistence
    def state(self) -> dict[str, Any]:
        """JSON-ready state (every evaluation and the distinct alphas) for :meth:`restore` (a resumed
        run continues its counters, best-so-far curve and top table)."""
        h = self.history
        return {"history": {"rewards": list(h.rewards), "expressions": list(h.expressions),
                            "valid": list(h.valid), "lengths": list(h.lengths)},
                "records": [dataclasses.asdict(r) for r in self.records.values()]}

    def restore(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state` into this (empty) tracker.

        Raises:
            SettingsError: the tracker already holds evaluations, or ``state`` is malformed.
        """
        from alpha_env.errors import SettingsError

        if self.n_evaluations:
            raise SettingsError("restore needs an empty tracker")
        try:
            h = state["history"]
            for r, e, ok, n in zip(h["rewards"], h["expressions"], h["valid"], h["lengths"], strict=True):
                self.history.add(float(r), str(e), bool(ok), int(n))
            self.records = {d["expression"]: AlphaRecord(**d) for d in state["records"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"malformed tracker state: {exc}") from None
        self._seen = {e for e in self.history.expressions if e}

    # ----------------------------------------------------------------- output
    @property
    def n_evaluations(self) -> int:
        """Number of finished episodes recorded so far."""
        return len(self.history)

    def window(self) -> WindowStats:
        """Statistics of the episodes since the previous call (then starts a new window)."""
        w, self._window = self._window, []
        if not w:
            return WindowStats(0, float("nan"), float("nan"), float("nan"), float("nan"))
        valid, new, length, reward, expressions = zip(*w)
        return WindowStats(len(w), float(np.mean(valid)), float(np.mean(new)), float(np.mean(length)),
                           float(np.mean(reward)), len(set(expressions)) / len(w))

    def top(self, n: int | None = None) -> list[AlphaRecord]:
        """The best distinct valid alphas by reward, best first."""
        n = self.top_k if n is None else n
        return sorted(self.records.values(), key=lambda r: r.reward, reverse=True)[:n]

    def best(self) -> AlphaRecord | None:
        """The best valid alpha by reward, or ``None`` before the first valid one."""
        top = self.top(1)
        return top[0] if top else None

    def metrics(self, expression: str) -> dict[str, dict[str, float]]:
        """Per-split metrics (``{"train": {...}, "valid": {...}, "test": {...}}``) of an expression, cached.

        Empty when the tracker has no ACE.
        """
        if self.ace is None:
            return {}
        got = self._metrics.get(expression)
        if got is None:
            result = self.ace.simulate(expression)
            got = {split: dict(values) for split, values in result.metrics.items()}
            self._metrics[expression] = got
        return got

    def split_sharpe(self, expression: str, split: str) -> float:
        """Sharpe of ``expression`` on ``split`` via the ACE (NaN when unavailable)."""
        value = self.metrics(expression).get(split, {}).get("sharpe")
        return float("nan") if value is None else float(value)

    def top_table(self, n: int | None = None, *, splits: tuple[str, ...] = ("train", "valid")) -> list[dict]:
        """Rows of the top-alpha table: expression, reward, count and Sharpe per requested split."""
        rows = []
        for rank, rec in enumerate(self.top(n), start=1):
            row: dict[str, Any] = {"rank": rank, "expression": rec.expression, "reward": rec.reward,
                                   "count": rec.count, "first_seen": rec.first_seen,
                                   "alpha_id": rec.alpha_id}
            for split in splits:
                row[f"sharpe_{split}"] = self.split_sharpe(rec.expression, split)
            rows.append(row)
        return rows

    def top_markdown(self, n: int | None = None) -> str:
        """The top-alpha table as Markdown (rendered by TensorBoard's text dashboard)."""
        lines = ["| # | expression | reward | Sharpe train | Sharpe valid | count | found at |",
                 "|---|---|---|---|---|---|---|"]
        for row in self.top_table(n):
            expr = row["expression"].replace("|", "\\|")
            lines.append(f"| {row['rank']} | `{expr}` | {row['reward']:.3f} | {row['sharpe_train']:.3f} | "
                         f"{row['sharpe_valid']:.3f} | {row['count']} | {row['first_seen']} |")
        return "\n".join(lines)
