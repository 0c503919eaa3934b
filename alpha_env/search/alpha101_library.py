"""The 101 Formulaic Alphas (Kakushadze, 2015) as a baseline: simulate all, choose the best in sample.

The baseline a user would otherwise reach for: take the published library, backtest every alpha under the
study's settings and keep the one with the best selection score, computed on ``train`` or on
``train+valid`` (never ``test``) by the same criterion the searchers are judged by. Alphas that cannot be
evaluated on a panel (Alpha#56 needs ``cap``, absent from price-only data) are listed with their error
and left out of the choice.

Example::

    from alpha_env.ace import ACE, SimulationSettings
    from alpha_env.data import synthetic_market
    from alpha_env.search.alpha101_library import Alpha101Library

    lib = Alpha101Library(ACE(synthetic_market(seed=0), SimulationSettings(neutralization="sector")))
    entries = lib.simulate_all()
    best = lib.choose(entries, criterion="train+valid")
    best.number, best.expression, best.result.metrics["test"]["sharpe"]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alpha_env.errors import AlphaEnvError, SettingsError
from alpha_env.grammar import Expr, alpha101, canonical
from alpha_env.search.selection import selection_window, window_metrics_at_cost

if TYPE_CHECKING:
    from alpha_env.ace import ACE, SimulationResult

__all__ = ["LibraryEntry", "Alpha101Library", "CRITERIA", "selection_score"]

#: Selection criteria: the splits whose joint window scores an alpha.
CRITERIA: dict[str, tuple[str, ...]] = {"train": ("train",), "train+valid": ("train", "valid")}


@dataclass
class LibraryEntry:
    """One alpha of the library on one panel.

    Attributes:
        number: the alpha's number in the paper (1..101).
        text: the formula as written in the paper.
        expression: canonical text.
        result: the simulation (``None`` when it failed).
        error: why it could not be simulated (``None`` when it was).
    """

    number: int
    text: str
    expression: str
    result: SimulationResult | None
    error: str | None = None

    @property
    def usable(self) -> bool:
        """Simulated and not degenerate."""
        return self.result is not None and self.result.degenerate_reason is None


def selection_score(
    result: SimulationResult, *, criterion: str = "train+valid", metric: str = "sharpe",
    cost_bps: float | None = None,
) -> float:
    """``metric`` of ``result`` over the criterion's window (see :data:`CRITERIA`) at ``cost_bps``
    (default: the simulation's own cost). ``-inf`` for a degenerate result."""
    if criterion not in CRITERIA:
        raise SettingsError(f"unknown selection criterion {criterion!r}; choose from {sorted(CRITERIA)}")
    if result.degenerate_reason is not None:
        return -math.inf
    if result.backtest is None:
        raise SettingsError(f"result {result.alpha_id} carries no backtest (loaded from a store?)")
    window = selection_window(result.splits(), CRITERIA[criterion])
    cost = result.backtest.settings.cost_bps if cost_bps is None else cost_bps
    value = window_metrics_at_cost(result.backtest, window, cost)[metric]
    return float(value) if math.isfinite(value) else -math.inf


class Alpha101Library:
    """The 101 alphas on one ACE.

    Args:
        ace: the :class:`~alpha_env.ace.ACE` (panel + settings) to simulate on.
        simulate: optional replacement for ``ace.simulate(expr, save=False)`` (e.g. a caching wrapper).
    """

    def __init__(self, ace: ACE, simulate: Callable[[Expr], SimulationResult] | None = None):
        self.ace = ace
        self._simulate = simulate if simulate is not None else (lambda e: ace.simulate(e, save=False))

    def simulate_all(self, numbers: Sequence[int] | None = None) -> list[LibraryEntry]:
        """Simulate every alpha (or those ``numbers``); failures are recorded, not raised."""
        wanted = None if numbers is None else set(numbers)
        out: list[LibraryEntry] = []
        for alpha in alpha101():
            if wanted is not None and alpha.number not in wanted:
                continue
            text = canonical(alpha.expr)
            try:
                result = self._simulate(alpha.expr)
                out.append(LibraryEntry(alpha.number, alpha.text, text, result))
            except AlphaEnvError as exc:
                out.append(LibraryEntry(alpha.number, alpha.text, text, None, str(exc)))
        return out

    @staticmethod
    def choose(
        entries: Sequence[LibraryEntry], *, criterion: str = "train+valid", metric: str = "sharpe",
        cost_bps: float | None = None,
    ) -> LibraryEntry:
        """The usable entry with the best :func:`selection_score` (ties: lowest number).

        Raises:
            SettingsError: no entry is usable.
        """
        usable = [e for e in entries if e.usable]
        if not usable:
            raise SettingsError("no alpha of the library could be simulated on this panel")
        return max(usable, key=lambda e: (selection_score(e.result, criterion=criterion, metric=metric,
                                                          cost_bps=cost_bps), -e.number))
