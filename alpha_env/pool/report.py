"""A pool's combined alpha judged like any alpha: IC, rank IC and Sharpe per split, at several costs.

The weights of a pool are fitted on the train split, so its train figures are in-sample and its valid /
test figures out of sample (for ``rolling``, every day's weights use only data known before that day).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from alpha_env.pool.pool import AlphaPool

__all__ = ["pool_metrics", "POOL_REPORT_COSTS"]

#: Transaction costs (bps of traded value) a pool report shows by default.
POOL_REPORT_COSTS: tuple[float, ...] = (0.0, 5.0)


def pool_metrics(pool: AlphaPool, ace: Any, *, splits: Sequence[str] = ("train", "valid"),
                 costs: Sequence[float] = POOL_REPORT_COSTS) -> dict[str, Any]:
    """The pool's members and weights, and its combined alpha's metrics per split and cost.

    Args:
        pool: the pool (built on ``ace.panel``).
        ace: an :class:`~alpha_env.ace.ACE` whose settings the backtest uses (its ``cost_bps`` is replaced
            by each of ``costs``).
        splits: the splits reported (``test`` only for a final report).
        costs: transaction costs in bps.

    Returns:
        ``{"size", "objective", "model", "settings" (every pool setting; ``state`` names a conditional
        model's state), "members": [{"expression", "weight", "ic"}],
        "metrics": {split: {"ic", "rank_ic", "sharpe@<bps>", "turnover"}}}``; an empty pool has no metrics.
    """
    from alpha_env.ace import ACE

    settings_used = pool.settings.to_dict()
    if pool.state is not None:
        settings_used["state"] = pool.state_label
    out: dict[str, Any] = {
        "size": len(pool), "objective": float(pool.objective), "model": pool.settings.model,
        "settings": settings_used,
        "members": [{"expression": m.expr, "weight": float(m.weight), "ic": float(m.ic)}
                    for m in pool.members],
        "metrics": {},
    }
    if not len(pool):
        return out
    combined = pool.combined()
    metrics: dict[str, dict[str, float]] = {s: {} for s in splits}
    for cost in costs:
        settings = dataclasses.replace(ace.settings, cost_bps=float(cost))
        at_cost = ACE(ace.panel, settings, evaluator=ace.evaluator, rank_ic=True)
        result = at_cost.complete(at_cost.score_signal(combined, "pool", None))
        for split in splits:
            m = result.metrics[split]
            metrics[split].setdefault("ic", m["ic"])
            metrics[split].setdefault("rank_ic", m["rank_ic"])
            metrics[split].setdefault("turnover", m["turnover"])
            metrics[split][f"sharpe@{cost:g}"] = m["sharpe"]
    out["metrics"] = metrics
    return out
