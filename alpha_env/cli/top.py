"""``alpha-env top``: the best stored alphas by one metric of one split, optionally at another cost.

``--cost-bps C`` recomputes, from each alpha's stored daily PnL and turnover, the PnL at cost ``C``
(``pnl + (stored_cost - C)·1e-4·turnover``) and from it ``sharpe``, ``annual_return``, ``fitness``,
``margin_bps`` and ``total_pnl`` of the split (same windows as the simulation: the split's holding days
from the first traded day on), then ranks by ``--by``. Other metrics (IC, turnover, counts) do not depend
on the cost and are shown as stored. Without a stored turnover series the cost cannot be applied: that
alpha's recomputed metrics are ``null`` and the table says "n/a".
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

__all__ = ["register", "metrics_at_cost", "COST_METRICS"]

#: Metrics ``--cost-bps`` recomputes (the others do not depend on the cost).
COST_METRICS: tuple[str, ...] = ("sharpe", "annual_return", "fitness", "margin_bps", "total_pnl")


def metrics_at_cost(pnl: np.ndarray, turnover: np.ndarray | None, window: slice, stored_cost_bps: float,
                    cost_bps: float) -> dict[str, float] | None:
    """:data:`COST_METRICS` of ``window`` for the PnL at ``cost_bps`` (``None`` without turnover).

    Args:
        pnl: ``(T,)`` stored daily net PnL (fraction of book) at ``stored_cost_bps``.
        turnover: ``(T,)`` stored daily turnover (fraction of book).
        window: holding days of the split; it starts at the first day with turnover (the first book).
    """
    from alpha_env.backtest.metrics import TRADING_DAYS, annualized_sharpe

    if turnover is None or turnover.shape != pnl.shape:
        return None
    T = pnl.shape[0]
    start, stop, _ = window.indices(T)
    traded = np.flatnonzero(turnover > 0.0)
    start = max(start, int(traded[0]) if traded.size else T)
    if stop <= start:
        return dict.fromkeys(COST_METRICS, 0.0)
    net = pnl[start:stop] + (stored_cost_bps - cost_bps) * 1e-4 * turnover[start:stop]
    tv = turnover[start:stop]
    sharpe = annualized_sharpe(net)
    annual = float(TRADING_DAYS * net.mean())
    fitness = sharpe * math.sqrt(abs(annual) / max(float(tv.mean()), 0.125))
    return {"sharpe": sharpe, "annual_return": annual, "fitness": float(fitness),
            "margin_bps": float(1e4 * net.sum() / tv.sum()) if tv.sum() > 0 else 0.0,
            "total_pnl": float(net.sum())}


def _at_cost(store: Any, rows: list[dict[str, Any]], split: str, cost_bps: float) -> None:
    """Add ``at_cost`` (recomputed metrics or ``None``) and ``cost_bps`` to every row, in place."""
    from alpha_env.errors import StoreError

    for r in rows:
        result = store.get(r["alpha_id"])
        splits = result.splits()
        if split == "all":
            window = slice(None)
        elif split in splits:
            window = splits[split]
        else:
            raise StoreError(f"alpha {r['alpha_id']!r} has no split {split!r} in its stored metadata")
        stored = float((r.get("settings") or {}).get("cost_bps", 0.0))
        turnover = result.turnover if result.turnover.size else None
        r["at_cost"] = metrics_at_cost(result.pnl, turnover, window, stored, cost_bps)
        r["cost_bps"] = cost_bps


def _rank(rows: list[dict[str, Any]], by: str, ascending: bool) -> list[dict[str, Any]]:
    """Rows ordered by ``by`` at cost (degenerate and undefined last), as ``AlphaStore.top`` orders."""
    def value(r: dict[str, Any]) -> float | None:
        v = (r["at_cost"] or {}).get(by) if r.get("at_cost") is not None else None
        return None if v is None or not math.isfinite(v) else float(v)

    def key(r: dict[str, Any]) -> tuple:
        v = value(r)
        return (r["degenerate_reason"] is not None, v is None,
                0.0 if v is None else (v if ascending else -v), r["alpha_id"])

    out = sorted(rows, key=key)
    for r in out:
        r["value"] = value(r)
    return out


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from alpha_env.ace import AlphaStore, default_db_path
    from alpha_env.errors import SettingsError

    if args.cost_bps is not None and (not math.isfinite(args.cost_bps) or args.cost_bps < 0):
        raise SettingsError(f"--cost-bps must be a finite number >= 0, got {args.cost_bps}")
    with AlphaStore(args.db or default_db_path(), create=False) as store:
        if args.cost_bps is None:
            rows = store.top(args.by, args.split, args.n, ascending=args.ascending, pools=args.pools)
        else:
            rows = store.top(args.by, args.split, None, ascending=args.ascending, pools=args.pools)
            if args.by in COST_METRICS:
                _at_cost(store, rows, args.split, args.cost_bps)
                rows = _rank(rows, args.by, args.ascending)[: args.n]
            else:  # the ranking does not depend on the cost: recompute only the rows shown
                rows = rows[: args.n]
                _at_cost(store, rows, args.split, args.cost_bps)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from alpha_env.ace.report import top_table

        Console().print(top_table(rows, args.by, args.split, args.cost_bps))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``top`` subcommand."""
    from alpha_env.backtest import METRIC_NAMES
    from alpha_env.cli import SUMMARIES

    p = subparsers.add_parser(
        "top",
        help=SUMMARIES["top"],
        description="List the stored alphas ranked by a metric of one split (latest simulation of each), "
                    "with checks passed, mean long/short stock counts, the dataset id and key settings of "
                    "each row; --cost-bps recomputes the cost-dependent metrics from the stored PnL and "
                    "turnover. Never creates a store.",
    )
    p.add_argument("--by", default="sharpe", choices=METRIC_NAMES, help="metric to rank by (default sharpe)")
    p.add_argument("--split", default="valid",
                   help="split of that metric (default valid); one the stored simulations have")
    p.add_argument("--n", type=int, default=20, help="how many (default 20)")
    p.add_argument("--ascending", action="store_true", help="smallest first (e.g. for max_drawdown)")
    p.add_argument("--cost-bps", type=float, default=None,
                   help="recompute sharpe, annual_return, fitness, margin_bps and total_pnl at this cost "
                        "(bps of traded value) from the stored PnL and turnover, and rank by it")
    p.add_argument("--pools", action=argparse.BooleanOptionalAction, default=True,
                   help="list the stored pools too (--no-pools: single alphas only)")
    p.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
