"""``alpha-env data info PATH... [--json]`` and ``alpha-env data check PATH... [--json]``.

``PATH`` is a dataset folder or a price file; ``synthetic`` (or ``synthetic:SEED``) names the embedded
synthetic market. ``info`` prints shape, date range, fields, groups, coverage, universe and splits;
``check`` prints the quality report and exits with 1 when a hard error was found.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

__all__ = ["register", "panel_info", "open_panel", "check_path"]


def open_panel(path: str) -> Any:
    """Load ``path`` (a dataset folder, a price file, or ``synthetic[:SEED]``) as a MarketPanel."""
    from alpha_env.data import resolve_panel

    return resolve_panel(path)


def check_path(path: str) -> Any:
    """The quality report of ``path``; for ``synthetic[:SEED]``, the checks that apply to a built panel
    (jumps, zero volume, gaps) with the same summary statistics as a file."""
    from alpha_env.data import QualityReport, check_dataset
    from alpha_env.data.frames import WideFrame
    from alpha_env.data.sources import synthetic_seed
    from alpha_env.data.validate import suspicious_issues

    if synthetic_seed(path) is None:
        return check_dataset(path)
    panel = open_panel(path)
    close = panel.field("close")
    arrays = {k: panel.field(k) for k in ("close", "volume") if panel.has_field(k)}
    wide = WideFrame(panel.dates, panel.tickers, arrays, np.full(panel.shape, -1, dtype=np.int64))
    report = QualityReport(path, suspicious_issues(wide, path))
    report.stats.update({
        "rows": int(np.isfinite(close).sum()), "dates": panel.n_dates, "tickers": panel.n_stocks,
        "first_date": str(panel.dates[0]), "last_date": str(panel.dates[-1]),
        "coverage": round(float(np.isfinite(close).mean()), 4),
    })
    return report


def panel_info(panel: Any) -> dict[str, Any]:
    """What ``alpha-env data info`` reports about a panel, as plain data."""
    close = panel.field("close")
    uni = panel.universe
    info: dict[str, Any] = {
        "name": panel.metadata.get("name"),
        "source": panel.metadata.get("source"),
        "dataset_id": panel.dataset_id,
        "dates": panel.n_dates,
        "tickers": panel.n_stocks,
        "first_date": str(panel.dates[0]),
        "last_date": str(panel.dates[-1]),
        "fields": list(panel.field_names),
        "vwap_approximated": bool(panel.metadata.get("vwap_approximated")),
        "groups": {g: len(panel.group_labels(g)) for g in panel.group_names},
        "coverage": round(float(np.isfinite(close).mean()), 4),
        "universe": {
            **dict(panel.metadata.get("universe") or {}),
            "mean_size": round(float(uni.sum(axis=1).mean()), 1),
            "last_size": int(uni[-1].sum()),
        },
        "splits": {
            name: {"start": str(panel.dates[s][0]), "end": str(panel.dates[s][-1]),
                   "days": int(len(panel.dates[s]))}
            for name, s in panel.splits.items() if len(panel.dates[s])
        },
        "documents": len(panel.documents) if panel.documents is not None else 0,
        "quality": dict(panel.metadata.get("quality") or {}),
    }
    if "load_seconds" in panel.metadata:
        info["load_seconds"] = panel.metadata["load_seconds"]
    if "planted" in panel.metadata:
        info["planted"] = [
            {k: p[k] for k in ("expression", "strength", "regimes", "oracle_sharpe")}
            for p in panel.metadata["planted"]
        ]
    return info


def _print_info(info: dict[str, Any]) -> None:
    print(f"{info['name']}  ({info['source']})")
    print(f"  shape     : {info['dates']} dates x {info['tickers']} tickers, "
          f"{info['first_date']} .. {info['last_date']}, coverage {info['coverage']:.1%}")
    approx = "  (vwap approximated)" if info["vwap_approximated"] else ""
    print(f"  fields    : {' '.join(info['fields'])}{approx}")
    print(f"  groups    : {', '.join(f'{g} ({n})' for g, n in info['groups'].items())}")
    u = info["universe"]
    print(f"  universe  : mean {u['mean_size']} stocks/day, last day {u['last_size']}  "
          f"(min_history={u.get('min_history')}, top_n={u.get('top_n')})")
    for name, s in info["splits"].items():
        print(f"  {name:<10}: {s['start']} .. {s['end']} ({s['days']} days)")
    print(f"  documents : {info['documents']}")
    print(f"  dataset id: {info['dataset_id']}")
    if info.get("quality"):
        print(f"  quality   : {', '.join(f'{k}={v}' for k, v in info['quality'].items())}")
    for p in info.get("planted", []):
        print(f"  planted   : {p['expression']}  strength {p['strength']:.3f} in {'/'.join(p['regimes'])}, "
              f"oracle Sharpe {p['oracle_sharpe']:.2f}")


def _info(args: argparse.Namespace) -> int:
    out = []
    for path in args.paths:
        t0 = time.perf_counter()
        info = panel_info(open_panel(path))
        info.setdefault("load_seconds", round(time.perf_counter() - t0, 3))
        out.append(info)
        if not args.json:
            _print_info(info)
    if args.json:
        print(json.dumps(out if len(out) > 1 else out[0], indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    reports = [check_path(p) for p in args.paths]
    if args.json:
        data = [r.to_dict() for r in reports]
        print(json.dumps(data if len(data) > 1 else data[0], indent=2))
    else:
        for r in reports:
            print(r.format())
    return 0 if all(r.ok for r in reports) else 1


def register(subparsers: Any) -> None:
    """Add ``data info`` and ``data check`` to the top-level parser."""
    parser = subparsers.add_parser("data", help="inspect and check market datasets",
                                   description=__doc__.split("\n\n")[1] if __doc__ else None)
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    p_info = sub.add_parser("info", help="shape, dates, fields, groups, coverage, universe, splits")
    p_info.add_argument("paths", nargs="+", metavar="PATH",
                        help="dataset folder, price file, or synthetic[:SEED]")
    p_info.add_argument("--json", action="store_true", help="print JSON")
    p_info.set_defaults(func=_info)
    p_check = sub.add_parser("check", help="quality report (exit 1 on hard errors)")
    p_check.add_argument("paths", nargs="+", metavar="PATH",
                         help="dataset folder, price file, or synthetic[:SEED]")
    p_check.add_argument("--json", action="store_true", help="print JSON")
    p_check.set_defaults(func=_check)
