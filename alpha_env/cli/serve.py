"""``alpha-env serve``: the read-only web dashboard over an alpha store (needs the ``dashboard`` extra)."""

from __future__ import annotations

import argparse
import ipaddress
import json

__all__ = ["register"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _run(args: argparse.Namespace) -> int:
    from alpha_env.ace import default_db_path
    from alpha_env.errors import SettingsError

    try:
        from werkzeug.serving import make_server

        from alpha_env.dashboard import create_app
    except ImportError as exc:
        raise SettingsError(f"the dashboard needs Flask ({exc.name} is missing): "
                            "pip install -e '.[dashboard]'") from exc
    if not 0 <= args.port <= 65535:
        raise SettingsError(f"--port must be in [0, 65535], got {args.port}")
    app = create_app(list(args.db) if args.db else [default_db_path()], data=list(args.data or []))
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        raise SettingsError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    if not _is_loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can read the store")
    url = f"http://{args.host}:{server.server_port}/"
    states = app.extensions["alpha_dashboards"]
    db = str(states[0].path)
    if args.json:
        line = {"url": url, "db": db, "read_only": True}
        if len(states) > 1:
            line["stores"] = [s.source.label for s in states]
        print(json.dumps(line), flush=True)
    else:
        shown = ", ".join(s.source.label for s in states)
        print(f"alpha-env dashboard on {url} (store {shown}, read-only); Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    from alpha_env.cli import SUMMARIES

    p = subparsers.add_parser(
        "serve",
        help=SUMMARIES["serve"],
        description="Serve a read-only web dashboard of the alpha store: the alpha table (sort, filter, "
                    "paginate), one page per alpha (PnL, drawdown, years, checks, correlated alphas), "
                    "compare, pools and runs. Opens the store read-only and binds to localhost unless "
                    "--host says otherwise. Needs the dashboard extra: pip install -e '.[dashboard]'.",
    )
    p.add_argument("--db", action="append", default=None,
                   help="alpha store: a file or postgresql://... URL; repeat for several (a store "
                        "selector on every page); default $ALPHA_ENV_DB or ./alpha_env.db")
    p.add_argument("--data", action="append", default=None,
                   help="dataset for the alpha page's IC decay and quantile returns (repeatable; matched "
                        "to each alpha by its dataset id; without it the page says the data is absent)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--json", action="store_true", help="print the address as one JSON line at start")
    p.set_defaults(func=_run)
