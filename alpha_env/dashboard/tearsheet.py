"""IC decay and quantile returns of one alpha for its dashboard page, when its dataset is at hand.

The store keeps the dataset id of each alpha, not the data: ``alpha-env serve --data PATH`` (repeatable)
loads panels with :func:`alpha_env.data.resolve_panel`, keyed by their ``dataset_id``; an alpha whose
dataset is among them gets its signal evaluated (:class:`alpha_env.evaluate.Evaluator`) and measured by
:func:`alpha_env.pool.factor_metrics.factor_metrics` against forward returns of the panel's closes, in
the simulation's universe (``simulation_universe``) and with its delay.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from alpha_env.errors import AlphaEnvError

__all__ = ["DatasetPanels", "alpha_factor_metrics"]


class DatasetPanels:
    """The panels given with ``--data``, by dataset id, each with one :class:`Evaluator` (thread-safe).

    Raises:
        DataError / SettingsError: a path that cannot be read (from :func:`resolve_panel`).
    """

    #: How many alphas' factor metrics are kept (a page view after the first is free).
    CACHED = 64

    def __init__(self, sources: list[Any] | None = None):
        from alpha_env.data import resolve_panel

        self._panels: dict[str, Any] = {}
        self._evaluators: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.cache: dict[tuple[str, str, str], tuple[Any, str]] = {}
        for source in sources or []:
            panel = resolve_panel(source)
            self._panels[str(panel.dataset_id)] = panel

    @property
    def dataset_ids(self) -> list[str]:
        """The dataset ids at hand, sorted."""
        return sorted(self._panels)

    def get(self, dataset_id: str) -> Any:
        """The panel of ``dataset_id``, or ``None``."""
        return self._panels.get(dataset_id)

    def evaluate(self, dataset_id: str, expression: str) -> Any:
        """``(T, N)`` signal of ``expression`` on that dataset's panel (one evaluator per panel)."""
        from alpha_env.evaluate import Evaluator

        with self._lock:
            ev = self._evaluators.get(dataset_id)
            if ev is None:
                ev = self._evaluators[dataset_id] = Evaluator(self._panels[dataset_id])
            return ev.evaluate(expression)


def alpha_factor_metrics(panels: DatasetPanels, expression: str, dataset_id: str,
                         settings: dict[str, Any]) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """``(factor metrics per split, "")``, or ``(None, why not)`` when the dataset is not at hand or
    the alpha cannot be measured on it (the reason is shown on the page).

    The metrics are :func:`factor_metrics`'s (``ic_decay``: ``{h: mean IC}`` for 1..20-day forward
    returns; ``quantile_returns``: 5 mean 1-day forward returns, fraction, lowest bucket first).
    """
    from alpha_env.ace.settings import SimulationSettings
    from alpha_env.ace.simulate import simulation_universe
    from alpha_env.pool.factor_metrics import factor_metrics

    key = (dataset_id, expression, json.dumps(settings, sort_keys=True, default=str))
    if key in panels.cache:
        return panels.cache[key]
    panel = panels.get(dataset_id)
    if panel is None:
        at_hand = ", ".join(panels.dataset_ids) or "none"
        return None, (f"dataset {dataset_id!r} is not available (serve --data PATH loads one; at hand: "
                      f"{at_hand})")
    try:
        sim = SimulationSettings.from_dict(dict(settings))
        signal = panels.evaluate(dataset_id, expression)
        universe = simulation_universe(panel, sim)
        metrics = factor_metrics(signal, panel.field("close"), panel.splits, universe,
                                 delay=int(sim.delay))
    except (AlphaEnvError, TypeError, ValueError) as exc:
        return None, f"cannot measure this alpha on dataset {dataset_id!r}: {exc}"
    if len(panels.cache) >= panels.CACHED:
        panels.cache.pop(next(iter(panels.cache)))
    panels.cache[key] = (metrics, "")
    return metrics, ""


