"""``alpha-env report ALPHA_ID``: the stored metrics, yearly figures and checks of an alpha; PnL plot;
``--tearsheet PATH [--data DATA]``: the factor tear sheet (:mod:`alpha_env.ace.tearsheet`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from alpha_env.cli import SUMMARIES

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from alpha_env.ace import AlphaStore, default_db_path
    from alpha_env.ace.report import plot_pnl, print_report
    from alpha_env.ace.store_backends import is_store_url
    from alpha_env.errors import StoreError

    db = str(args.db or default_db_path())
    # a read command never creates a store (a postgresql:// URL is no file: AlphaStore checks it)
    if not is_store_url(db) and not Path(db.removeprefix("sqlite:///")).is_file():
        raise StoreError(f"unknown alpha id {args.alpha_id!r}: no alpha store at {db} (see --db)")
    with AlphaStore(db, create=False) as store:
        result = store.get(args.alpha_id)
        submissions = store.submissions(args.alpha_id)
    png = plot_pnl(result, args.png) if args.png else None
    sheet_files = _tearsheet(result, args) if args.tearsheet else None
    if args.json:
        out = result.to_dict(series=args.series)
        out["submissions"] = submissions
        out["png"] = str(png) if png else None
        out["tearsheet"] = [str(p) for p in sheet_files] if sheet_files else None
        print(json.dumps(out, indent=2))
        return 0
    console = Console()
    print_report(result, console)
    for s in submissions:
        console.print(f"submission {s['id']} at {s['submitted_at']}: {'PASSED' if s['passed'] else 'FAILED'}")
    if png:
        console.print(f"PnL plot: {png}")
    if sheet_files:
        console.print(f"tear sheet: {sheet_files[0]} and {sheet_files[1]}")
    return 0


def _tearsheet(result: Any, args: argparse.Namespace) -> tuple[Path, Path]:
    """Write the tear sheet (factor panels only with --data)."""
    from alpha_env.ace.tearsheet import build_tearsheet, write_tearsheet

    panel = None
    if args.data:
        from alpha_env.data import resolve_panel

        panel = resolve_panel(args.data)
    return write_tearsheet(build_tearsheet(result, panel), args.tearsheet)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help=SUMMARIES["report"],
        description="Print the latest stored simulation of an alpha; --png writes its cumulative PnL. "
                    "Never creates a store.",
    )
    p.add_argument("alpha_id", help="the 16-hex-digit alpha id")
    p.add_argument("--png", default=None, help="write the cumulative PnL plot here")
    p.add_argument("--tearsheet", default=None, metavar="PATH",
                   help="write the factor tear sheet as PATH.png and PATH.html (the suffix is replaced)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="with --tearsheet: the dataset the alpha was simulated on (needed for the IC, decay, "
                        "quantile and signal-turnover panels; without it, the PnL panels only)")
    p.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    p.add_argument("--series", action="store_true", help="with --json: include dates, pnl and turnover")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
