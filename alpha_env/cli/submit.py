"""``alpha-env submit ALPHA_ID``: run the submission checks on a stored alpha and record the submission.

Exit code 0 when every check passes, 1 when one fails (the failed attempt is recorded too).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from alpha_env.ace import AlphaStore, CheckThresholds, default_db_path, submit_alpha
    from alpha_env.ace.report import checks_table

    thresholds = CheckThresholds(
        sharpe=args.min_sharpe, fitness=args.min_fitness, turnover_min=args.turnover_min,
        turnover_max=args.turnover_max, max_weight=args.max_weight, max_correlation=args.max_correlation,
        split=args.split,
    )
    with AlphaStore(args.db or default_db_path()) as store:
        passed, checks, sub_id = submit_alpha(store, args.alpha_id, thresholds)
        result = store.get(args.alpha_id)
    if args.json:
        print(json.dumps({"alpha_id": args.alpha_id, "submission_id": sub_id, "passed": passed,
                          "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        result.metadata["check_split"] = thresholds.split
        console = Console()
        console.print(checks_table(result, checks))
        verdict = "[green]SUBMITTED[/green]" if passed else "[red]REJECTED[/red]"
        console.print(f"{verdict} {args.alpha_id} (submission {sub_id})")
    return 0 if passed else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``submit`` subcommand."""
    from alpha_env.ace import CheckThresholds
    from alpha_env.cli import SUMMARIES

    d = CheckThresholds()
    p = subparsers.add_parser(
        "submit",
        help=SUMMARIES["submit"],
        description="Run the submission checks (Sharpe, fitness, turnover band, max weight, PnL "
                    "correlation with every alpha already submitted) on a stored alpha and record the "
                    "submission. Exit code 1 when a check fails.",
    )
    p.add_argument("alpha_id", help="the 16-hex-digit alpha id")
    p.add_argument("--split", default=d.split, help=f"split the checks read (default {d.split})")
    p.add_argument("--min-sharpe", type=float, default=d.sharpe, help=f"default {d.sharpe}")
    p.add_argument("--min-fitness", type=float, default=d.fitness, help=f"default {d.fitness}")
    p.add_argument("--turnover-min", type=float, default=d.turnover_min, help=f"default {d.turnover_min}")
    p.add_argument("--turnover-max", type=float, default=d.turnover_max, help=f"default {d.turnover_max}")
    p.add_argument("--max-weight", type=float, default=d.max_weight, help=f"default {d.max_weight}")
    p.add_argument("--max-correlation", type=float, default=d.max_correlation,
                   help=f"default {d.max_correlation}")
    p.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
