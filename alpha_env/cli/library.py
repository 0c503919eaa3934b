"""``alpha-env library``: the published alpha libraries, as baselines: the 101 alphas and Alpha158.

* ``library list [--library alpha101|alpha158] [--json]``: each alpha's name, its text as published
  (the 101-alphas language, or Qlib's dialect for Alpha158) and its canonical text in the one AST.
* ``library simulate [--library ...] [--data PATH] [settings] [--rank-by train] [--n 10] [--pool]``:
  simulates every alpha of the library on the dataset, ranks them by the Sharpe of ``--rank-by`` (train
  by default, so valid and test stay out of sample) and prints the best ``n`` per split; ``--pool`` also
  offers them in that order to a pool (the main job's pool settings: ``--pool-min-ic-t 3``) and prints the
  combined alpha: "best of the library" and "library pool", the baselines of a study. Alphas that cannot
  be evaluated on the dataset (a field it lacks) are counted and named, never silently dropped.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

__all__ = ["register", "library_alphas", "LIBRARIES"]

#: Library names.
LIBRARIES: tuple[str, ...] = ("alpha101", "alpha158")


def library_alphas(name: str) -> list[tuple[str, str, str]]:
    """``(name, published text, canonical text)`` of every alpha of the library ``name``.

    Raises:
        SettingsError: unknown library.
    """
    from alpha_env.errors import SettingsError
    from alpha_env.grammar import canonical, parse

    if name == "alpha101":
        from alpha_env.grammar.corpus import alpha101

        return [(f"Alpha#{a.number}", a.text, canonical(a.expr)) for a in alpha101()]
    if name == "alpha158":
        from alpha_env.grammar.alpha158 import alpha158

        return [(n, text, canonical(parse(text, dialect="qlib"))) for n, text in alpha158()]
    raise SettingsError(f"unknown library {name!r}; choose one of {', '.join(LIBRARIES)}")


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _list(args: argparse.Namespace) -> int:
    rows = library_alphas(args.library)
    if args.json:
        print(json.dumps([{"name": n, "text": t, "canonical": c} for n, t, c in rows], indent=2))
        return 0
    for n, t, c in rows:
        print(f"{n:10s} {c}" if t == c else f"{n:10s} {c}    [{t}]")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from alpha_env.ace import ACE, AlphaStore, default_db_path
    from alpha_env.cli.simulate import settings_from_args
    from alpha_env.data import resolve_panel
    from alpha_env.errors import AlphaEnvError, SettingsError

    settings = settings_from_args(args)
    panel = resolve_panel(args.data)
    if args.rank_by not in panel.splits:
        raise SettingsError(
            f"--rank-by {args.rank_by!r} is not a split of the dataset ({', '.join(panel.splits)})")
    store = None if args.no_store else AlphaStore(args.db or default_db_path())
    results, failed = [], []
    try:
        ace = ACE(panel, settings, store=store)
        for name, _, text in library_alphas(args.library):
            try:
                results.append((name, ace.simulate(text)))
            except AlphaEnvError as exc:
                failed.append({"name": name, "error": str(exc)})
    finally:
        if store is not None:
            store.close()
    usable = [(n, r) for n, r in results if r.degenerate_reason is None
              and math.isfinite(r.metrics[args.rank_by]["sharpe"])]
    usable.sort(key=lambda nr: nr[1].metrics[args.rank_by]["sharpe"], reverse=True)
    splits = [s for s in ("train", "valid", "test") if s in panel.splits]
    top = [{"name": n, "expression": r.expression, "alpha_id": r.alpha_id,
            "sharpe": {s: _finite(r.metrics[s]["sharpe"]) for s in splits},
            "ic": {s: _finite(r.metrics[s]["ic"]) for s in splits}} for n, r in usable[: args.n]]
    out: dict[str, Any] = {"library": args.library, "dataset_id": panel.dataset_id,
                           "settings": settings.to_dict(), "rank_by": args.rank_by,
                           "simulated": len(results), "degenerate": len(results) - len(usable),
                           "failed": failed, "top": top}
    if args.pool:
        from alpha_env.ace.pools import new_pool
        from alpha_env.pool import PoolSettings, pool_metrics

        lean = ACE(panel, settings, evaluator=ace.evaluator)
        pool = new_pool(lean, PoolSettings(min_ic_t=args.pool_min_ic_t))
        for _, r in usable:
            pool.offer(r.expression, ace.evaluator.evaluate(r.expression))
        report = pool_metrics(pool, lean, splits=splits)
        out["pool"] = {"size": report["size"], "members": report["members"],
                       "metrics": {s: {k: _finite(v) for k, v in m.items()}
                                   for s, m in report["metrics"].items()}}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.library} on {panel.dataset_id}: {len(results)} simulated, {out['degenerate']} degenerate, "
          f"{len(failed)} not evaluable" + (f" ({', '.join(f['name'] for f in failed[:5])}"
                                            f"{', ...' if len(failed) > 5 else ''})" if failed else ""))
    print(f"best {len(top)} by {args.rank_by} Sharpe:  " + "  ".join(f"Sharpe {s}" for s in splits))
    for row in top:
        print(f"  {row['name']:10s} " + "  ".join(
            f"{row['sharpe'][s]:+.2f}" if row['sharpe'][s] is not None else "   nan" for s in splits)
              + f"   {row['expression']}")
    if "pool" in out:
        p = out["pool"]
        print(f"library pool: {p['size']} members; combined Sharpe (0 bps): " + ", ".join(
            f"{s} {p['metrics'][s].get('sharpe@0')}" for s in splits if s in p["metrics"]))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``library`` subcommand and its ``list`` and ``simulate`` actions."""
    from alpha_env.cli import SUMMARIES
    from alpha_env.cli.simulate import add_settings_arguments

    p = subparsers.add_parser("library", help=SUMMARIES["library"],
                              description="The published alpha libraries (the 101 alphas, Alpha158) as "
                                          "baselines.")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    ls = sub.add_parser("list", help="names and formulas of a library")
    ls.add_argument("--library", choices=LIBRARIES, default="alpha101")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list)
    s = sub.add_parser("simulate",
                       help="simulate every alpha of a library; the best ones and the library pool")
    s.add_argument("--library", choices=LIBRARIES, default="alpha101")
    s.add_argument("--data", default=None, help="dataset folder, price file or synthetic[:SEED]")
    add_settings_arguments(s)
    s.add_argument("--rank-by", default="train", help="split whose Sharpe ranks the alphas (default train)")
    s.add_argument("--n", type=int, default=10, help="how many of the best to print (default 10)")
    s.add_argument("--pool", action="store_true", help="also offer them, best first, to a pool")
    s.add_argument("--pool-min-ic-t", type=float, default=3.0,
                   help="the pool's significance gate on a member's train IC t-statistic (default 3)")
    s.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    s.add_argument("--no-store", action="store_true", help="do not save the simulations")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=_simulate)
