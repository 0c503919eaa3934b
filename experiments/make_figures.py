"""Regenerate every published figure, in order, with ``--publish`` (``make figures``).

The plan below lists each published file under ``docs/`` (``docs/figures/``, ``docs/results*``,
``docs/doc_conditioning/``) with the command that regenerates it and the time it took when it was
published (wall seconds on the 2-core development machine, as recorded by that run). The steps run one after
another from the checkout root; each publishing script refuses to write into ``docs/`` from a tree with
uncommitted changes outside ``docs/`` (``alpha_env.provenance``), so commit first, and every JSON it writes
records its command, seeds, commit, packages, machine and wall time. The first failing step stops the run.

Usage::

    python experiments/make_figures.py --dry-run         # print the plan and the expected time
    python experiments/make_figures.py                   # run every step (about 2 hours in all)
    python experiments/make_figures.py --only compare_actor_init doc_conditioning
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Step", "PLAN", "PUBLISHED_GLOBS", "NOT_SCRIPTED", "published_files", "uncovered", "main"]


@dataclass(frozen=True)
class Step:
    """One command of the plan."""

    name: str
    """short name (``--only``)"""
    argv: tuple[str, ...]
    """the script (relative to the checkout root) and its arguments; ``--publish`` is part of them"""
    outputs: tuple[str, ...]
    """files it writes under ``docs/`` (globs relative to the checkout root); empty for a preparation"""
    expected_seconds: float
    """wall seconds of the published run (2-core machine); the basis of the time estimate"""
    note: str = ""
    """where the expected time comes from"""

    def command(self) -> str:
        """The shell line of the step."""
        return " ".join(["python", *self.argv])


PLAN: tuple[Step, ...] = (
    Step("study_real_data", ("experiments/study_real_data.py", "--budget", "600", "--seeds", "0", "1", "2",
                             "--workers", "2", "--publish", "--no-progress"),
         ("docs/results.md", "docs/results/*"), 2380.0, "study.json: seconds (2 workers, shared machine)"),
    Step("compare_actor_init", ("experiments/compare_actor_init.py", "--publish"),
         ("docs/figures/compare_actor_init.*",), 577.0, "compare_actor_init.json: seconds"),
    Step("compare_rewards", ("experiments/compare_rewards.py", "--publish"),
         ("docs/figures/compare_rewards.*",), 609.0, "compare_rewards.json: wall_seconds"),
    Step("pretrain_alpha_encoders", ("experiments/pretrain_alpha_encoder.py", "--encoder", "both",
                                     "--corpus-size", "5000", "--epochs", "4", "--run-name", "tree_vs_stack"),
         (), 213.0, "docs/encoders.md: 186 s stack + 27 s tree (loaded machine); the next step reads them"),
    Step("ablate_fusion", ("experiments/ablate_fusion.py", "--seeds", "0", "1", "2", "--evaluations", "300",
                           "--publish"),
         ("docs/figures/ablate_fusion.*",), 1509.0, "ablate_fusion.json: wall_seconds of 2 seeds x 1.5"),
    Step("ablate_fusion_us", ("experiments/ablate_fusion.py", "--market", "us_2006_2013", "--seeds", "0", "1",
                              "2", "--fusions", "concat", "--evaluations", "300", "--publish"),
         ("docs/figures/ablate_fusion_us_2006_2013.*",), 2100.0,
         "measured: 25 runs of the full grid took 47 min beside the study; this grid has 18"),
    Step("ablate_fusion_us_attention_gated",
         ("experiments/ablate_fusion.py", "--market", "us_2006_2013", "--seeds", "0", "1", "2",
          "--alpha-encoders", "stack", "tree", "--fusions", "cross_attention", "gated",
          "--evaluations", "300", "--name", "ablate_fusion_us_2006_2013_attention_gated", "--publish"),
         ("docs/figures/ablate_fusion_us_2006_2013_attention_gated.*",), 1464.5,
         "ablate_fusion_us_2006_2013_attention_gated.json: seconds"),
    Step("doc_conditioning", ("experiments/doc_conditioning.py", "--publish", "--name", "contrast_hindsight"),
         ("docs/doc_conditioning/contrast_hindsight.*",), 601.0, "contrast_hindsight.json: wall_seconds"),
    Step("doc_conditioning_seeds_3_4", ("experiments/doc_conditioning.py", "--publish", "--seeds", "3,4",
                                        "--name", "contrast_hindsight_seeds_3_4"),
         ("docs/doc_conditioning/contrast_hindsight_seeds_3_4.*",), 366.0,
         "contrast_hindsight_seeds_3_4.json: wall_seconds"),
)
"""Every step, in the order it runs (a step may read what an earlier one wrote under ``runs/``)."""

PUBLISHED_GLOBS = ("docs/figures/*", "docs/results/*", "docs/results.md", "docs/doc_conditioning/*")
"""Where published figures live."""

NOT_SCRIPTED = {
    "docs/figures/dashboard_alpha.png": "browser screenshot of `alpha-env serve` (docs/dashboard.md)",
    "docs/figures/dashboard_alphas.png": "browser screenshot of `alpha-env serve` (docs/dashboard.md)",
}
"""Published images that no experiment writes, with how they are made."""


def published_files(root: Path = ROOT) -> list[str]:
    """Every published file (relative paths, sorted)."""
    return sorted({str(p.relative_to(root)) for pattern in PUBLISHED_GLOBS for p in root.glob(pattern)
                   if p.is_file()})


def uncovered(root: Path = ROOT) -> list[str]:
    """Published files that no step of :data:`PLAN` writes and :data:`NOT_SCRIPTED` does not explain."""
    covered = {str(p.relative_to(root)) for step in PLAN for pattern in step.outputs
               for p in root.glob(pattern)}
    return [f for f in published_files(root) if f not in covered and f not in NOT_SCRIPTED]


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def plan_text(steps: Sequence[Step]) -> str:
    """The plan as text: one block per step (command, outputs, expected time), then the total."""
    lines = []
    for i, step in enumerate(steps, 1):
        outputs = ", ".join(step.outputs) if step.outputs else "(prepares runs/ for a later step)"
        lines += [f"{i}. {step.name}: {step.command()}",
                  f"   writes {outputs}; expected {_duration(step.expected_seconds)} ({step.note})"]
    for path, how in NOT_SCRIPTED.items():
        lines.append(f"-  {path}: not regenerated here ({how})")
    total = sum(s.expected_seconds for s in steps)
    lines.append(f"expected in all: {_duration(total)} ({total:,.0f} s) on the 2-core development machine")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the plan (``--dry-run``) or run it; returns the exit code of the first failing step, else 0."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan and run nothing")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in PLAN], help="run only these steps")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="pass --allow-dirty to the publishing steps (their files are marked dirty)")
    ns = parser.parse_args(argv)
    steps = [s for s in PLAN if ns.only is None or s.name in ns.only]
    print(plan_text(steps))
    missing = uncovered()
    if missing:
        print(f"published files no step regenerates: {', '.join(missing)}", file=sys.stderr)
    if ns.dry_run:
        return 0
    for step in steps:
        extra = ["--allow-dirty"] if ns.allow_dirty and "--publish" in step.argv else []
        print(f"\n== {step.name}: {step.command()} {' '.join(extra)}".rstrip(), flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, *step.argv, *extra], cwd=ROOT)
        print(f"== {step.name}: exit {done.returncode} after {time.perf_counter() - started:,.0f} s "
              f"(expected {_duration(step.expected_seconds)})", flush=True)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
