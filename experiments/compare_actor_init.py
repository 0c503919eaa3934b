"""Pretrained actor vs randomly initialized actor vs masked random search, at equal evaluation budgets.

For each seed: PPO with the stage-1 actor, PPO with a randomly initialized decoder (same architecture and
fine-tuning settings), and masked random search, each stopped after exactly ``--evaluations`` finished
episodes (backtests) on the same market. Writes, under ``--out``:

* ``compare_actor_init.png`` — best train Sharpe so far against evaluations (median over seeds, min-max band),
  with the best planted signal and the 80 % line on the synthetic market;
* ``compare_actor_init.json`` — every curve, the final best per run with its valid Sharpe, and the number
  of evaluations each run needed to reach 80 % of the best planted signal;
* ``compare_actor_init.md`` — the summary table (pasted into ``docs/agents.md``).

The default folder is ``runs/compare_actor_init/``; only ``--publish`` writes the published figures
(``docs/figures/``), and only from a clean tree (``alpha_env.provenance``). The JSON carries the provenance
block (command, seeds, commit, packages, machine, wall time). Runs stop on the evaluation budget; the
wall-clock guard ``--minutes-per-run`` only catches a hung run, and when it fires the run is marked
``stopped_by_time_limit`` and the file ``"incomplete": true``.

Usage::

    python experiments/compare_actor_init.py                       # 3 seeds x 2,500 evaluations (~10 min)
    python experiments/compare_actor_init.py --publish             # the same, into docs/figures/
    python experiments/compare_actor_init.py --quick --out /tmp/cmp
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _common import DEFAULT_CHECKPOINT, ROOT, load_market, parse_args, run_cli

from alpha_env.provenance import (
    check_publish,
    git_state,
    incomplete_marker,
    output_folder,
    provenance,
    write_figure_json,
)

__all__ = ["Args", "main"]

METHODS = ("ppo_pretrained", "ppo_random_init", "random_search")


@dataclass
class Args:
    """Arguments of compare_actor_init.py."""

    evaluations: int = 2500
    """finished episodes (backtests) per run"""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """seeds (one run of each method per seed)"""
    checkpoint: str = str(DEFAULT_CHECKPOINT)
    """stage-1 actor (pretrained first when missing)"""
    max_len: int = 15
    """most tokens per expression"""
    out: str | None = None
    """output folder of the PNG, JSON and Markdown table (default: runs/compare_actor_init, with --publish
    docs/figures)"""
    publish: bool = False
    """write the published figures (docs/figures); refused from a tree with uncommitted changes"""
    allow_dirty: bool = False
    """with --publish, accept uncommitted changes and mark the files dirty"""
    minutes_per_run: float = 60.0
    """wall-clock guard per PPO run, against a hung run (the evaluation budget ends a run); a guard that
    fires marks the results incomplete"""
    quick: bool = False
    """tiny budgets and a tiny pretrained actor (for tests)"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns the JSON document."""
    args = parse_args(Args, argv)
    git = git_state()  # the code that runs: read now
    out = output_folder(args.out, args.publish, "docs/figures", "compare_actor_init")
    check_publish(out / "compare_actor_init.json", git, args.publish, args.allow_dirty)  # fail before work
    from agents.job import PPOJobSettings, run_ppo_job
    from alpha_env.ace import ACE
    from alpha_env.env import AlphaStackEnv
    from alpha_env.search import random_search

    if args.quick:
        args.evaluations = min(args.evaluations, 40)
        args.seeds = args.seeds[:2]
    panel = load_market(None)
    ace = ACE(panel)
    curves: dict[str, list[list[float]]] = {m: [] for m in METHODS}
    finals: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    stopped: list[bool] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = str(Path(tmp) / "decoder.pt") if args.quick else args.checkpoint
        for seed in args.seeds:
            for method, init in (("ppo_pretrained", "pretrained"), ("ppo_random_init", "random")):
                argv_run = ["--seed", str(seed), "--actor-init", init, "--checkpoint", checkpoint,
                            "--max-evaluations", str(args.evaluations), "--total-timesteps",
                            str(args.evaluations * (args.max_len + 1)), "--max-len", str(args.max_len),
                            "--time-limit-minutes", str(args.minutes_per_run), "--runs-dir", tmp,
                            "--exp-name", method, "--no-progress", "--show-top", "1"]
                if args.quick:
                    argv_run += ["--quick-pretrain", "--n-envs", "2", "--n-steps", "32", "--batch-size", "32"]
                summary = run_ppo_job(parse_args(PPOJobSettings, argv_run), root=ROOT)
                curves[method].append(summary["best_so_far"][: args.evaluations])
                best = summary["top"][0] if summary["top"] else None
                finals[method].append(_final(best["expression"] if best else "", ace, seed,
                                             summary["evaluations"]))
                finals[method][-1]["stopped_by_time_limit"] = bool(summary["stopped_by_time_limit"])
                stopped.append(bool(summary["stopped_by_time_limit"]))
            # the PPO runs' masks (the main job's), so every method writes in the same grammar
            env = AlphaStackEnv(panel, max_len=args.max_len,
                                refuse_degenerate=PPOJobSettings().env.refuse_degenerate)
            history = random_search(env, args.evaluations, seed=seed)
            env.close()
            curves["random_search"].append(history.best_so_far().tolist())
            finals["random_search"].append(_final(history.best()[0], ace, seed, len(history)))
    planted = max(ace.simulate(p["expression"]).metrics["train"]["sharpe"]
                  for p in panel.metadata["planted"])
    for method in METHODS:
        for curve, final in zip(curves[method], finals[method]):
            final["evaluations_to_80pct"] = _first(curve, 0.8 * planted)
    out.mkdir(parents=True, exist_ok=True)
    png = _plot(curves, planted, out / "compare_actor_init.png", args.evaluations)
    table = _table(finals, planted, args)
    (out / "compare_actor_init.md").write_text(table + "\n")
    guards = incomplete_marker({"minutes_per_run": any(stopped)})
    prov = provenance(argv, args.seeds, started, script="experiments/compare_actor_init.py", git=git)
    result = {**guards, "evaluations": args.evaluations, "seeds": args.seeds,
              "best_planted_train_sharpe": planted, "curves": curves, "finals": finals, "png": str(png),
              "seconds": time.perf_counter() - started, "provenance": prov}
    compact = {**result, "curves": {m: [[None if np.isnan(v) else round(v, 4) for v in run] for run in runs]
                                    for m, runs in curves.items()}}
    write_figure_json(out / "compare_actor_init.json", compact, prov, args.publish,
                      allow_dirty=args.allow_dirty, indent=None, default=float)
    if guards["incomplete"]:
        print("INCOMPLETE: a PPO run was stopped by --minutes-per-run before its evaluation budget")
    print(table)
    print(f"figure: {png}")
    return result


def _final(expression: str, ace: Any, seed: int, evaluations: int) -> dict[str, Any]:
    if not expression:
        return {"seed": seed, "expression": "", "train": float("nan"), "valid": float("nan"),
                "evaluations": evaluations}
    metrics = ace.simulate(expression).metrics
    return {"seed": seed, "expression": expression, "train": float(metrics["train"]["sharpe"]),
            "valid": float(metrics["valid"]["sharpe"]), "evaluations": evaluations}


def _first(curve: list[float], level: float) -> int | None:
    values = np.nan_to_num(np.asarray(curve, dtype=float), nan=-np.inf)
    hits = np.flatnonzero(values >= level)
    return int(hits[0]) + 1 if hits.size else None


def _plot(curves: dict[str, list[list[float]]], planted: float, path: Path, n: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    labels = {"ppo_pretrained": "PPO, pretrained actor", "ppo_random_init": "PPO, random-init actor",
              "random_search": "masked random search"}
    for method, runs in curves.items():
        if not runs:
            continue
        grid = np.full((len(runs), n), np.nan)
        for i, run in enumerate(runs):
            values = np.asarray(run, dtype=float)[:n]
            grid[i, : len(values)] = values
            if len(values) < n and len(values):  # a run stopped early keeps its last best
                grid[i, len(values):] = values[-1]
        x = np.arange(1, n + 1)
        with warnings.catch_warnings():  # before the first valid alpha every run is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mid, low, high = np.nanmedian(grid, axis=0), np.nanmin(grid, axis=0), np.nanmax(grid, axis=0)
        ax.plot(x, mid, label=labels[method])
        ax.fill_between(x, low, high, alpha=0.2)
    ax.axhline(planted, color="k", linestyle="--", linewidth=1, label="best planted signal")
    ax.axhline(0.8 * planted, color="k", linestyle=":", linewidth=1, label="80 % of it")
    ax.set_xlabel("evaluations (finished episodes)")
    ax.set_ylabel("best train Sharpe so far")
    ax.set_title(f"Synthetic market: {len(next(iter(curves.values())))} seeds, median and min-max")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _table(finals: dict[str, list[dict[str, Any]]], planted: float, args: Args) -> str:
    lines = [f"Equal budgets of {args.evaluations} evaluations, seeds {args.seeds}; best planted signal: "
             f"train Sharpe {planted:.2f}. Best alpha of each run by train Sharpe; mean (median) over seeds.",
             "",
             "| method | best train Sharpe | its valid Sharpe | runs reaching 80 % | "
             "evaluations to 80 % (median) |", "|---|---|---|---|---|"]
    for method, runs in finals.items():
        train = [r["train"] for r in runs]
        valid = [r["valid"] for r in runs]
        reached = [r["evaluations_to_80pct"] for r in runs if r["evaluations_to_80pct"] is not None]
        median = f"{np.median(reached):.0f}" if reached else "-"
        lines.append(f"| {method} | {np.nanmean(train):.2f} ({np.nanmedian(train):.2f}) | "
                     f"{np.nanmean(valid):.2f} ({np.nanmedian(valid):.2f}) | {len(reached)}/{len(runs)} | "
                     f"{median} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(run_cli(main, "compare_actor_init", sys.argv[1:]))
