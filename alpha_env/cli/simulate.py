"""``alpha-env simulate "EXPR"``: simulate one alpha, print its metrics per split, store it, plot its PnL."""

from __future__ import annotations

import argparse
import json

__all__ = ["register", "load_market", "settings_from_args", "add_settings_arguments"]


def load_market(path: str | None):
    """The panel of ``--data``: a dataset folder or price file, or the embedded synthetic market."""
    from alpha_env.data import load_panel, synthetic_market

    return synthetic_market() if path is None else load_panel(path)


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The simulation settings as options (defaults from :class:`~alpha_env.ace.SimulationSettings`)."""
    from alpha_env.backtest import NEUTRALIZATIONS

    g = p.add_argument_group("simulation settings")
    g.add_argument("--delay", type=int, default=1, help="0 or 1 days between data and trade (default 1)")
    g.add_argument("--decay", type=int, default=0, help="linear decay in days (default 0 = off)")
    g.add_argument("--neutralization", default="market", choices=NEUTRALIZATIONS,
                   help="demean within this group (default market)")
    g.add_argument("--truncation", type=float, default=0.1,
                   help="max |weight| per stock as a fraction of the book, 0 = off (default 0.1)")
    g.add_argument("--book-size", type=float, default=2e7, help="gross book in dollars (default 2e7)")
    g.add_argument("--cost-bps", type=float, default=0.0, help="cost in bps of traded value (default 0)")
    g.add_argument("--top-n", type=int, default=None, help="trade only the N most liquid stocks by adv20")
    g.add_argument("--min-price", type=float, default=0.0, help="trade only stocks with close >= this")
    c = p.add_argument_group("return cleaning (off by default; changes only the returns the backtest "
                             "books, never what the signal sees)")
    c.add_argument("--max-return", type=float, default=0.0,
                   help="a daily return with |r| above this fraction books 0, e.g. 0.5 (default 0 = off)")
    c.add_argument("--glitch-factor", type=float, default=0.0,
                   help="a one-day close move by more than this factor either way that the next close "
                        "undoes books 0 on both days, e.g. 1.5 (default 0 = off)")
    c.add_argument("--glitch-band", type=float, default=0.05,
                   help="how close (fraction) the next close must come back for --glitch-factor "
                        "(default 0.05)")


def settings_from_args(args: argparse.Namespace):
    """Build :class:`~alpha_env.ace.SimulationSettings` from the parsed options."""
    from alpha_env.ace import SimulationSettings

    return SimulationSettings(
        delay=args.delay, decay=args.decay, neutralization=args.neutralization, truncation=args.truncation,
        book_size=args.book_size, cost_bps=args.cost_bps, top_n=args.top_n, min_price=args.min_price,
        max_return=args.max_return, glitch_factor=args.glitch_factor, glitch_band=args.glitch_band,
    )


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from alpha_env.ace import ACE, AlphaStore, default_db_path
    from alpha_env.ace.report import plot_pnl, print_report
    from alpha_env.grammar import parse

    settings = settings_from_args(args)
    parse(args.expression)  # a bad expression fails before any data is loaded
    panel = load_market(args.data)
    store = None if args.no_store else AlphaStore(args.db or default_db_path())
    try:
        result = ACE(panel, settings, store=store).simulate(args.expression)
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
    p.add_argument("--data", default=None,
                   help="dataset folder or price file (default: the embedded synthetic market)")
    add_settings_arguments(p)
    p.add_argument("--db", default=None, help="alpha store (default $ALPHA_ENV_DB or ./alpha_env.db)")
    p.add_argument("--no-store", action="store_true", help="do not save the simulation")
    p.add_argument("--png", default=None, help="write the cumulative PnL plot here (default: no plot)")
    p.add_argument("--no-png", action="store_true", help="do not write the PnL plot (overrides --png)")
    p.add_argument("--yearly", action="store_true", help="also print the metrics per year")
    p.add_argument("--series", action="store_true", help="with --json: include dates, pnl and turnover")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
