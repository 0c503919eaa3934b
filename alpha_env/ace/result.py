"""``SimulationResult``: a judged alpha (metrics per split and year, checks, PnL, metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alpha_env.ace.checks import CheckResult, all_passed
from alpha_env.backtest.engine import BacktestResult

__all__ = ["SimulationResult"]


@dataclass(eq=False)
class SimulationResult:
    """Outcome of :meth:`alpha_env.ace.ACE.simulate` (also what :class:`~alpha_env.ace.AlphaStore` returns).

    Attributes:
        alpha_id: 16 hex digits, hash of canonical expression + settings + dataset id.
        expression: canonical expression text.
        metrics: ``{split: {metric: value}}`` for ``train``/``valid``/``test`` and ``all`` (see
            :mod:`alpha_env.backtest.metrics`).
        yearly: ``{"2015": {metric: value}, ...}``.
        pnl: ``(T,)`` daily PnL net of costs, fraction of the book, by holding date.
        turnover: ``(T,)`` daily turnover, fraction of the book.
        dates: ``(T,)`` ``datetime64[D]`` dates of the panel.
        checks: the submission checks (see :mod:`alpha_env.ace.checks`).
        metadata: ``settings`` (dict), ``dataset_id``, ``code_version`` (``alpha_env.CODE_VERSION``: the
            release and a fingerprint of the package's sources), ``started_at``/``finished_at``
            (ISO 8601 UTC), ``run_time_s``, ``splits`` (``{name: [start, stop]}`` date indices),
            ``check_split``, ``cache`` (evaluator statistics), ``simulation_id`` once stored.
        degenerate_reason: why the signal holds no book at all, else ``None``.
        backtest: the full :class:`BacktestResult` (weights etc.); ``None`` when loaded from the store.
    """

    alpha_id: str
    expression: str
    metrics: dict[str, dict[str, float]]
    yearly: dict[str, dict[str, float]]
    pnl: np.ndarray
    turnover: np.ndarray
    dates: np.ndarray
    checks: list[CheckResult]
    metadata: dict[str, Any]
    degenerate_reason: str | None = None
    backtest: BacktestResult | None = field(default=None, repr=False)

    @property
    def settings(self) -> dict[str, Any]:
        """The simulation settings as a dict."""
        return dict(self.metadata.get("settings", {}))

    @property
    def dataset_id(self) -> str:
        """Id of the panel the alpha was simulated on."""
        return str(self.metadata.get("dataset_id", ""))

    @property
    def passed(self) -> bool:
        """Every submission check passed."""
        return all_passed(self.checks)

    def sharpe(self, split: str = "train") -> float:
        """Annualized Sharpe on ``split``."""
        return float(self.metrics[split]["sharpe"])

    def splits(self) -> dict[str, slice]:
        """The splits as date-index slices."""
        return {k: slice(int(a), int(b)) for k, (a, b) in self.metadata.get("splits", {}).items()}

    def to_dict(self, *, series: bool = False) -> dict[str, Any]:
        """JSON-ready dict; ``series=True`` adds ``dates``, ``pnl`` and ``turnover`` lists."""
        out: dict[str, Any] = {
            "alpha_id": self.alpha_id,
            "expression": self.expression,
            "degenerate_reason": self.degenerate_reason,
            "passed": self.passed,
            "metrics": self.metrics,
            "yearly": self.yearly,
            "checks": [c.to_dict() for c in self.checks],
            "metadata": self.metadata,
        }
        if series:
            out["dates"] = [str(d) for d in self.dates.astype("datetime64[D]")]
            out["pnl"] = self.pnl.tolist()
            out["turnover"] = self.turnover.tolist()
        return out
