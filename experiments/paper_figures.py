"""The summary statistics of "101 Formulaic Alphas" (Kakushadze, 2015) recomputed on our data.

Simulates the 101 alphas over each whole ``--data`` panel (delay 1, sector neutralization, truncation
0.1, 0 bps) and prints the paper's figures next to ours. The definitions and the statistics live in
:mod:`alpha_env.search.paper_stats`; see ``docs/study.md``.

Usage::

    python experiments/paper_figures.py --data ../shared/data/sp500_2013_2018
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alpha_env.search.paper_stats import paper_markdown  # noqa: E402
from alpha_env.search.study import alpha101_paper_statistics  # noqa: E402

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Simulate the 101 alphas on each ``--data`` and print the side-by-side table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="dataset folders (or 'synthetic')")
    ns = parser.parse_args(argv)
    stats = {Path(path).name: alpha101_paper_statistics(path) for path in ns.data}
    print(paper_markdown(stats))
    return stats


if __name__ == "__main__":
    main()
