"""The real-data study: do searched alphas hold up out of sample better than the baselines?

Runs genetic programming, masked random search, the 101 Formulaic Alphas and (full runs only) PPO with
the same evaluation budget on each dataset and cost setting, selects on train+valid and reports the
test split. The study itself is :mod:`alpha_env.search.study` (methods, trial book, selection, deflated
Sharpe) and its report :mod:`alpha_env.search.study_report`; this script parses the options (one per
field of :class:`~alpha_env.search.study.StudySettings`), runs the study and writes ``results.md``, the
PNG charts and ``results/study.json`` (with seeds, settings and the git commit) into ``--out``
(default ``docs/``). See ``docs/study.md``.

Usage::

    python experiments/study_real_data.py --quick            # < 1 minute: slices, tiny budgets
    python experiments/study_real_data.py                    # full settings (offline, < 2 hours)
    python experiments/study_real_data.py --methods gp random alpha101 --budget 500
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "experiments") not in sys.path:
    sys.path.insert(0, str(ROOT / "experiments"))

from _common import parse_args  # noqa: E402

from alpha_env.search.study import StudySettings, apply_quick, run_study  # noqa: E402
from alpha_env.search.study_report import cumulative_pnl_charts, json_default, render_markdown  # noqa: E402

__all__ = ["parse_arguments", "main"]


def parse_arguments(argv: Sequence[str] | None = None) -> StudySettings:
    """Parse the command line into :class:`StudySettings` (``--kebab-case`` per field; lists take several
    values)."""
    return parse_args(StudySettings, argv, description=(__doc__ or "").splitlines()[0])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the study; returns the JSON document also written to ``<out>/results/study.json``."""
    args = apply_quick(parse_arguments(argv))
    given = list(argv) if argv is not None else sys.argv[1:]
    command = " ".join(["python experiments/study_real_data.py", *given])
    out = Path(args.out)
    figures = out / "results"
    figures.mkdir(parents=True, exist_ok=True)
    outcome = run_study(args, command, train_ppo=ROOT / "experiments" / "train_ppo.py")
    doc = outcome.doc
    doc["charts"] = cumulative_pnl_charts(outcome.runs, outcome.books, figures, doc["net_cost"])
    (figures / "study.json").write_text(json.dumps(doc, indent=1, default=json_default))
    (out / "results.md").write_text(render_markdown(doc))
    return doc


if __name__ == "__main__":
    main()
