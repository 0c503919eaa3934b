"""The real-data study: do searched alphas hold up out of sample better than the baselines?

Every method (PPO with the pretrained, random and news-conditioned actors, the AlphaGen replication,
genetic programming, random search, the 101 alphas and Alpha158) mines an alpha pool under one admission
rule with the same evaluation budget on each dataset; pools are fit on train, single alphas selected on
train+valid, and the test split is reported. The study itself is :mod:`alpha_env.search.study` (jobs,
executors; methods in ``study_methods``, judging in ``study_judge``) and its report
:mod:`alpha_env.search.study_report`; this script parses the options (one per field of
:class:`~alpha_env.search.study.StudySettings`), runs the study and writes ``results.md``, the PNG charts
and ``results/study.json`` (with seeds, settings, the git commit and the provenance block:
command, packages, machine, wall time) into ``--out`` (default ``runs/study/``; ``--publish`` writes the
published ``docs/results.md`` and ``docs/results/``, and only from a clean tree). PPO and AlphaGen runs
stop on the evaluation budget; one that its wall-clock guard (``--ppo-guard-minutes``) stopped first is
marked ``incomplete`` and makes the file ``"incomplete": true``. See ``docs/study.md``.

Usage::

    python experiments/study_real_data.py --quick            # 1-2 minutes: slices, tiny budgets
    python experiments/study_real_data.py --ray auto         # full settings, runs as Ray tasks
    python experiments/study_real_data.py --workers 2        # full settings, 2 local processes
    python experiments/study_real_data.py --publish          # the same, into docs/
    python experiments/study_real_data.py --methods gp random alpha158 --budget 500 --data ~/qlib/csi300
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "experiments") not in sys.path:
    sys.path.insert(0, str(ROOT / "experiments"))

from _common import build_parser, run_cli  # noqa: E402

from alpha_env.options import build_from_namespace  # noqa: E402
from alpha_env.provenance import (  # noqa: E402
    check_publish,
    git_state,
    incomplete_marker,
    output_folder,
    provenance,
    write_figure_json,
)
from alpha_env.search.study import StudySettings, apply_quick, run_study  # noqa: E402
from alpha_env.search.study_report import draw_charts, json_default, render_markdown  # noqa: E402

__all__ = ["parse_arguments", "parse_command", "main"]


def parse_command(argv: Sequence[str] | None = None) -> tuple[StudySettings, bool, bool]:
    """Parse the command line into :class:`StudySettings` (``--kebab-case`` per field; lists take several
    values) and the flags ``--publish`` and ``--allow-dirty``. ``--out`` defaults to ``runs/study``, or
    to ``docs`` with ``--publish``."""
    parser = build_parser(StudySettings, description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--publish", action="store_true",
                        help="write the published docs/results.md and docs/results/ (clean tree only)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="with --publish, accept uncommitted changes and mark the files dirty")
    parser.set_defaults(out=None)
    ns = parser.parse_args(argv)
    ns.out = str(output_folder(ns.out, ns.publish, "docs", "study", root=ROOT))
    return build_from_namespace(StudySettings, ns), ns.publish, ns.allow_dirty


def parse_arguments(argv: Sequence[str] | None = None) -> StudySettings:
    """The :class:`StudySettings` of a command line (see :func:`parse_command`)."""
    return parse_command(argv)[0]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the study; returns the JSON document also written to ``<out>/results/study.json``."""
    started = time.perf_counter()
    settings, publish, allow_dirty = parse_command(argv)
    args = apply_quick(settings)
    given = list(argv) if argv is not None else sys.argv[1:]
    command = " ".join(["python experiments/study_real_data.py", *given])
    git = git_state()  # the code that runs: read now
    out = Path(args.out)
    figures = out / "results"
    check_publish(figures / "study.json", git, publish, allow_dirty)  # fail before hours of work
    figures.mkdir(parents=True, exist_ok=True)
    outcome = run_study(args, command)
    doc = outcome.doc
    guards = incomplete_marker({"evaluation_budget": any(r["incomplete"] for r in doc["runs"])})
    doc = {**guards, **doc}
    doc["charts"] = draw_charts(doc, figures)
    doc["provenance"] = provenance(argv, args.seeds, started, script="experiments/study_real_data.py",
                                   git=git)
    write_figure_json(figures / "study.json", doc, doc["provenance"], publish, allow_dirty=allow_dirty,
                      default=json_default)
    markdown = render_markdown(doc)
    if guards["incomplete"]:
        markdown = ("**INCOMPLETE**: a PPO or AlphaGen run was stopped by its wall-clock guard "
                    "(--ppo-guard-minutes) before the evaluation budget.\n\n" + markdown)
    target = doc["target"]["status"]
    print(f"target: {target} (PPO pools' test rank IC and net Sharpe >= 1.5x the best baseline, DSR > 0.95); "
          f"{out / 'results.md'}")
    (out / "results.md").write_text(markdown)
    return doc


if __name__ == "__main__":
    sys.exit(run_cli(main, "study_real_data", sys.argv[1:]))
