"""``alpha-env simulate "EXPR"``: simulate one alpha, print its metrics per split, store it, plot its PnL."""

from __future__ import annotations

import argparse
import json

from alpha_env.grammar.parser import DIALECT_CHOICES

__all__ = ["register", "settings_from_args", "add_settings_arguments"]


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The simulation settings as options, generated from :class:`~alpha_env.ace.SimulationSettings`
    (defaults, choices and help declared once, on its fields and those of its nested backtest settings)."""
    from alpha_env.ace.settings import SimulationSettings
    from alpha_env.options import add_options

    add_options(p.add_argument_group("simulation settings (see docs/ace.md)"), SimulationSettings)


def settings_from_args(args: argparse.Namespace):
    """Build (and so validate, once) :class:`~alpha_env.ace.SimulationSettings` from the parsed options."""
    from alpha_env.ace.settings import SimulationSettings
    from alpha_env.options import build_from_namespace

    return build_from_namespace(SimulationSettings, args)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from alpha_env.ace import ACE, AlphaStore, default_db_path
    from alpha_env.ace.report import plot_pnl, print_report
    from alpha_env.data import resolve_panel
    from alpha_env.grammar import parse

    settings = settings_from_args(args)
    expr = parse(args.expression, dialect=args.dialect)  # a bad expression fails before any data is loaded
    panel = resolve_panel(args.data)
    store = None if args.no_store else AlphaStore(args.db or default_db_path())
    try:
        result = ACE(panel, settings, store=store).simulate(expr)
    finally:
        if store is not None:
            store.close()
    png = None
    if args.png and not args.no_png:
        png = plot_pnl(result, args.png)
    if args.json:
        out = result.to_dict(series=args.series)
        out["png"] = str(png) if png else None
        out["db"] = None if store is None else store.path
        print(json.dumps(out, indent=2))
        return 0
    console = Console()
    print_report(result, console, yearly=args.yearly)
    cleaning = result.metadata.get("return_cleaning")
    if cleaning is not None:
        worst = cleaning["largest"][:3]
        console.print(
            f"return cleaning: {cleaning['masked_returns']} returns masked, "
            f"{cleaning['masked_held']} of them held (booked 0 instead of "
            f"{cleaning['removed_pnl']:+.2%} of the book)"
            + ("; largest: " + ", ".join(f"{x['ticker']} {x['date']} r={x['return']:+.1%}" for x in worst)
               if worst else "")
        )
    where = "not stored" if store is None else f"stored in {store.path}"
    console.print(f"alpha id {result.alpha_id} ({where})" + (f"; PnL plot: {png}" if png else ""))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand."""
    p = subparsers.add_parser(
        "simulate",
        help="backtest an alpha expression, print its metrics per split and store it",
        description="Evaluate an alpha expression on a market panel (default: the embedded synthetic "
                    "market), backtest it, print metrics per split and the submission checks, save the "
                    "simulation to the alpha store and, with --png PATH, write a PNG of its cumulative PnL.",
    )
    p.add_argument("expression", help='the alpha, e.g. "rank(-delta(close, 5))"')
    p.add_argument("--dialect", choices=DIALECT_CHOICES, default="alpha101",
                   help="notation of the expression: alpha101 (default), qlib, brain or auto "
                        "(docs/grammar.md)")
    p.add_argument("--data", default=None,
                   help="dataset folder, price file or synthetic[:SEED] "
                        "(default: the embedded synthetic market)")
    add_settings_arguments(p)
    p.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    p.add_argument("--no-store", action="store_true", help="do not save the simulation")
    p.add_argument("--png", default=None, help="write the cumulative PnL plot here (default: no plot)")
    p.add_argument("--no-png", action="store_true", help="do not write the PnL plot (overrides --png)")
    p.add_argument("--yearly", action="store_true", help="also print the metrics per year")
    p.add_argument("--series", action="store_true", help="with --json: include dates, pnl and turnover")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
