"""``alpha-env top``: the best stored alphas by one metric of one split."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from alpha_env.ace import AlphaStore, default_db_path
    from alpha_env.ace.report import top_table

    with AlphaStore(args.db or default_db_path(), create=False) as store:
        rows = store.top(args.by, args.split, args.n, ascending=args.ascending)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        Console().print(top_table(rows, args.by, args.split))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``top`` subcommand."""
    from alpha_env.backtest import METRIC_NAMES
    from alpha_env.cli import SUMMARIES

    p = subparsers.add_parser(
        "top",
        help=SUMMARIES["top"],
        description="List the stored alphas ranked by a metric of one split (latest simulation of each), "
                    "with the dataset id and the key settings of each row. Never creates a store.",
    )
    p.add_argument("--by", default="sharpe", choices=METRIC_NAMES, help="metric to rank by (default sharpe)")
    p.add_argument("--split", default="valid",
                   help="split of that metric (default valid); one the stored simulations have")
    p.add_argument("--n", type=int, default=20, help="how many (default 20)")
    p.add_argument("--ascending", action="store_true", help="smallest first (e.g. for max_drawdown)")
    p.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
