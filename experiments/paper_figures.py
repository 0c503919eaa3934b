"""The summary statistics of "101 Formulaic Alphas" (Kakushadze, 2015) recomputed on our data.

Simulates the 101 alphas over each whole ``--data`` panel (delay 1, sector neutralization, truncation
0.1, 0 bps) and prints the paper's figures next to ours. The statistics are also written, with the
provenance block (command, commit, packages, machine, wall time), to ``--out`` (default
``runs/paper_figures/paper_figures.json``; under ``docs/`` only with ``--publish`` from a clean tree).
The definitions and the statistics live in :mod:`alpha_env.search.paper_stats`; see ``docs/study.md``.

Usage::

    python experiments/paper_figures.py --data ../shared/data/sp500_2013_2018
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import run_cli  # noqa: E402

from alpha_env.provenance import check_publish, git_state, provenance, write_figure_json  # noqa: E402
from alpha_env.search.paper_stats import paper_markdown  # noqa: E402
from alpha_env.search.study import alpha101_paper_statistics  # noqa: E402

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Simulate the 101 alphas on each ``--data`` and print the side-by-side table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="dataset folders (or 'synthetic')")
    parser.add_argument("--out", default=str(ROOT / "runs" / "paper_figures" / "paper_figures.json"),
                        help="JSON file of the statistics (default: %(default)s)")
    parser.add_argument("--publish", action="store_true", help="allow --out under docs/ (clean tree only)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="with --publish, accept uncommitted changes and mark the file dirty")
    ns = parser.parse_args(argv)
    started = time.perf_counter()
    git = git_state()  # the code that runs: read now
    check_publish(ns.out, git, ns.publish, ns.allow_dirty)  # fail before the work
    stats = {Path(path).name: alpha101_paper_statistics(path) for path in ns.data}
    print(paper_markdown(stats))
    prov = provenance(argv, [], started, script="experiments/paper_figures.py", git=git)
    write_figure_json(ns.out, {"statistics": stats}, prov, ns.publish, allow_dirty=ns.allow_dirty,
                      default=float)
    return stats


if __name__ == "__main__":
    sys.exit(run_cli(main, "paper_figures", sys.argv[1:]))
