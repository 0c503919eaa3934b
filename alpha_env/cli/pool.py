"""``alpha-env pool``: simulate a pool of alphas, build one from the store's best, show a stored pool.

* ``pool simulate EXPR... [--model lstsq] [--horizon 1] [--data PATH] [settings]``: every expression is a
  member (``--offer``: offered in turn under the admission rule), the weights are fitted on train, the
  combined alpha is simulated like any alpha and stored with its members and weights (``--no-store``).
* ``pool build --from-store [--n 20] [--split train] [--data PATH]``: the store's ``n`` best single alphas
  on that dataset (by the split's Sharpe) are offered in that order to a new pool, which is simulated and
  stored.
* ``pool show ID``: a stored pool's members, weights and metrics.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register", "pool_summary", "SUMMARY_METRICS"]

#: Per-split metrics a pool command prints (``sharpe_gross`` is before cost, ``sharpe`` after).
SUMMARY_METRICS: tuple[str, ...] = ("ic", "rank_ic", "sharpe_gross", "sharpe", "turnover")


def pool_summary(result: Any, *, db: str | None = None, stored: bool = False) -> dict[str, Any]:
    """What the pool commands print, JSON-ready: ``pool_id``, ``key``, ``dataset_id``, ``settings``,
    ``model``, ``pool_settings``, ``in_sample``, ``members`` (``expression``, ``weight``, train ``ic``),
    ``metrics`` (per split: :data:`SUMMARY_METRICS`; NaN as ``null``), ``passed``, ``checks``,
    ``stored``, ``db``."""
    info = result.metadata.get("pool") or {}
    gross = info.get("sharpe_gross") or {}
    metrics = {}
    for split, m in result.metrics.items():
        row = {k: m.get(k) for k in ("ic", "rank_ic", "sharpe", "turnover")}
        row["sharpe_gross"] = gross.get(split)
        metrics[split] = {k: _finite(row.get(k)) for k in SUMMARY_METRICS}
    return {
        "pool_id": result.alpha_id,
        "key": result.expression,
        "dataset_id": result.dataset_id,
        "settings": result.settings,
        "model": info.get("model"),
        "pool_settings": info.get("pool_settings"),
        "in_sample": info.get("in_sample"),
        "members": [{"expression": m["expression"], "weight": _finite(m.get("weight")),
                     "ic": _finite(m.get("ic"))} for m in info.get("members", [])],
        "metrics": metrics,
        "passed": result.passed,
        "checks": [c.to_dict() for c in result.checks],
        "degenerate_reason": result.degenerate_reason,
        "stored": stored,
        "db": db,
    }


def _finite(x: Any) -> float | None:
    import math

    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else spec.format(x)


def _print(summary: dict[str, Any], log: list[tuple[str, Any]] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from alpha_env.ace.report import settings_label

    console = Console()
    if log and any(r is not None for _, r in log):
        offers = Table(title="offers, in order", title_justify="left")
        for col in ("#", "expression", "kept", "why"):
            offers.add_column(col)
        for i, (expr, r) in enumerate(log, 1):
            offers.add_row(str(i), expr, "yes" if r.accepted else "no", r.reason)
        console.print(offers)
    members = Table(title=f"pool {summary['pool_id']} ({summary['model']}, weights fitted on "
                          f"{', '.join(summary['in_sample'] or [])})", title_justify="left")
    for col, justify in (("#", "right"), ("weight", "right"), ("train IC", "right"), ("expression", "left")):
        members.add_column(col, justify=justify)
    for i, m in enumerate(summary["members"], 1):
        members.add_row(str(i), _fmt(m["weight"], "{:+.4g}"), _fmt(m["ic"], "{:+.4f}"), m["expression"])
    console.print(members)
    table = Table(title="combined alpha per split", title_justify="left")
    for col in ("split", "IC", "rank IC", "Sharpe gross", "Sharpe net", "Turnover"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split, m in summary["metrics"].items():
        table.add_row(split, _fmt(m["ic"], "{:+.4f}"), _fmt(m["rank_ic"], "{:+.4f}"),
                      _fmt(m["sharpe_gross"], "{:.2f}"), _fmt(m["sharpe"], "{:.2f}"),
                      _fmt(m["turnover"], "{:.1%}"))
    console.print(table)
    n_ok = sum(c["passed"] for c in summary["checks"])
    console.print(f"checks: {n_ok}/{len(summary['checks'])} passed"
                  + (f"; degenerate: {summary['degenerate_reason']}" if summary["degenerate_reason"] else ""))
    where = f"stored in {summary['db']}" if summary["stored"] else "not stored"
    console.print(f"data {str(summary['dataset_id'])[:8]}  {settings_label(summary['settings'])}  "
                  f"pool id {summary['pool_id']} ({where})")


def _pool_settings(args: argparse.Namespace):
    from alpha_env.options import build_from_namespace
    from alpha_env.pool import PoolSettings

    return build_from_namespace(PoolSettings, args)


def _finish(args: argparse.Namespace, ace: Any, pool: Any, log: list, store: Any) -> int:
    from alpha_env.ace.pools import simulate_pool
    from alpha_env.ace.report import plot_pnl

    pruned = None
    if args.prune:
        pruned = pool.prune(args.prune)
    result = simulate_pool(ace, pool)
    if store is not None:
        store.save_pool(result)
    png = plot_pnl(result, args.png) if args.png else None
    summary = pool_summary(result, db=None if store is None else store.path, stored=store is not None)
    if args.json:
        summary["png"] = str(png) if png else None
        summary["offers"] = [{"expression": e, "accepted": None if r is None else r.accepted,
                              "reason": "added" if r is None else r.reason} for e, r in log]
        if pruned is not None:
            summary["pruned"] = {"removed": list(pruned.removed),
                                 "held_ic_before": _finite(pruned.held_ic_before),
                                 "held_ic_after": _finite(pruned.held_ic_after),
                                 "fit_rows": list(pruned.fit_rows), "held_rows": list(pruned.held_rows)}
        print(json.dumps(summary, indent=2))
    else:
        if pruned is not None:
            removed = ", ".join(pruned.removed) or "none"
            print(f"pruned inside train (held-out IC {pruned.held_ic_before:.4f} -> "
                  f"{pruned.held_ic_after:.4f}): removed {len(pruned.removed)}: {removed}")
        _print(summary, log)
        if png:
            print(f"PnL plot: {png}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from alpha_env.ace import ACE, AlphaStore, default_db_path
    from alpha_env.ace.pools import build_pool
    from alpha_env.cli.simulate import settings_from_args
    from alpha_env.data import resolve_panel
    from alpha_env.grammar import parse

    settings = settings_from_args(args)
    pool_settings = _pool_settings(args)
    for text in args.expressions:
        parse(text)  # a bad expression fails before any data is loaded
    panel = resolve_panel(args.data)
    ace = ACE(panel, settings)
    pool, log = build_pool(ace, args.expressions, pool_settings, offer=args.offer)
    if args.no_store:
        return _finish(args, ace, pool, log, None)
    with AlphaStore(args.db or default_db_path()) as store:
        return _finish(args, ace, pool, log, store)


def _build(args: argparse.Namespace) -> int:
    from alpha_env.ace import ACE, AlphaStore, default_db_path
    from alpha_env.ace.pools import build_pool
    from alpha_env.cli.simulate import settings_from_args
    from alpha_env.data import resolve_panel
    from alpha_env.errors import StoreError

    settings = settings_from_args(args)
    pool_settings = _pool_settings(args)
    if args.n < 1:
        raise StoreError(f"--n must be >= 1, got {args.n}")
    path = args.db or default_db_path()
    with AlphaStore(path, create=False) as store:
        datasets = sorted({r["dataset_id"] for r in store.top("sharpe", args.split, None, pools=False)})
    panel = resolve_panel(args.data)
    if panel.dataset_id not in datasets:
        where = f"--data {args.data}" if args.data else "the embedded synthetic market (no --data)"
        held = ", ".join(d[:16] for d in datasets) or "none"
        raise StoreError(f"store {path} has no alpha simulated on dataset {panel.dataset_id} ({where}); "
                         f"its datasets: {held}")
    with AlphaStore(path, create=False) as store:
        rows = store.top("sharpe", args.split, args.n, dataset_id=panel.dataset_id, pools=False)
    exprs = list(dict.fromkeys(r["expression"] for r in rows if r["degenerate_reason"] is None))
    if not exprs:
        raise StoreError(f"store {path}: every alpha on dataset {panel.dataset_id} is degenerate")
    ace = ACE(panel, settings)
    pool, log = build_pool(ace, exprs, pool_settings, offer=True)
    if args.no_store:
        return _finish(args, ace, pool, log, None)
    with AlphaStore(path) as store:
        return _finish(args, ace, pool, log, store)


def _show(args: argparse.Namespace) -> int:
    from alpha_env.ace import AlphaStore, default_db_path

    with AlphaStore(args.db or default_db_path(), create=False) as store:
        pool = store.get_pool(args.pool_id)
        result = pool.pop("result")
        summary = pool_summary(result, db=store.path, stored=True)
    summary["members"] = [{"expression": m["expression"], "weight": _finite(m["weight"]),
                           "ic": _finite(m["ic"])} for m in pool["members"]]
    summary["created_at"] = pool["created_at"]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print(summary)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    from alpha_env.cli.simulate import add_settings_arguments
    from alpha_env.options import add_options
    from alpha_env.pool import PoolSettings

    p.add_argument("--data", default=None,
                   help="dataset folder, price file or synthetic[:SEED] "
                        "(default: the embedded synthetic market)")
    add_options(p.add_argument_group("pool settings (see docs/pool.md)"), PoolSettings,
                exclude=("objective",))
    add_settings_arguments(p)
    p.add_argument("--prune", type=float, default=0.0, metavar="SHARE",
                   help="before simulating, remove members by backward elimination inside train: weights "
                        "fitted before the last SHARE of the train rows, members leave while the IC there "
                        "rises (e.g. 0.3; default 0: off; docs/pool.md)")
    p.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    p.add_argument("--no-store", action="store_true", help="do not save the pool")
    p.add_argument("--png", default=None, help="write the combined alpha's cumulative PnL plot here")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pool`` subcommand and its ``simulate``, ``build`` and ``show`` actions."""
    from alpha_env.cli import SUMMARIES

    p = subparsers.add_parser("pool", help=SUMMARIES["pool"],
                              description="Alpha pools: several alphas combined by weights fitted on train "
                                          "(docs/pool.md), simulated and stored like one alpha.")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    s = sub.add_parser("simulate", help="fit the weights of a pool of expressions, simulate and store it",
                       description="Each EXPR is a member (--offer: offered in turn under the admission "
                                   "rule); prints the weights and IC, rank IC and Sharpe gross/net per "
                                   "split. Put -- before the expressions when one starts with a minus.")
    s.add_argument("expressions", nargs="+", metavar="EXPR", help='an alpha, e.g. "rank(-delta(close, 5))"')
    s.add_argument("--offer", action="store_true",
                   help="offer each expression under the admission rule instead of adding them all")
    _common(s)
    s.set_defaults(func=_simulate)
    b = sub.add_parser("build", help="offer the store's best alphas on a dataset to a new pool",
                       description="Offer the store's N best single alphas simulated on the --data "
                                   "dataset (by the Sharpe of --split, best first) to a new pool; simulate "
                                   "and store it.")
    b.add_argument("--from-store", action="store_true", required=True,
                   help="take the candidates from the alpha store (the only source)")
    b.add_argument("--n", type=int, default=20, help="how many stored alphas to offer (default 20)")
    b.add_argument("--split", default="train",
                   help="split whose Sharpe ranks the stored alphas (default train: the weights are fitted "
                        "on train too, so valid and test stay out of sample)")
    _common(b)
    b.set_defaults(func=_build)
    w = sub.add_parser("show", help="a stored pool: members, weights, metrics")
    w.add_argument("pool_id", metavar="ID", help="the pool id")
    w.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    w.add_argument("--json", action="store_true", help="machine-readable output")
    w.set_defaults(func=_show)
