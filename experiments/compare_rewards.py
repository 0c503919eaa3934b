"""Pool reward vs single-alpha reward: the same PPO job, seed by seed, judged pool to pool.

For each seed the main job runs twice on the embedded market: with ``--reward pool`` (its default) and
with ``--reward sharpe`` (round 1's single-alpha reward). The single-alpha run has no pool of its own, so
its distinct evaluated alphas are offered afterwards, in the order it found them, to a pool with the same
settings; both pools are then judged on the valid split (weights fitted on train). Also reported: distinct
alphas, the share of new expressions over the last quarter of the run, the best single alpha's valid
Sharpe. Writes ``compare_rewards.json`` (with the provenance block: command, seeds, commit, packages,
machine, wall time) and ``compare_rewards.md`` to ``--out`` (default ``runs/compare_rewards/``; into
``docs/`` only with ``--publish`` from a clean tree). Runs stop on ``--total-timesteps``; the 60-minute
wall-clock guard of each run only catches a hung run, and when it fires the row says
``stopped_by_time_limit`` and the file ``"incomplete": true``.

Usage::

    python experiments/compare_rewards.py                      # 3 seeds x 2 rewards (about 10 minutes)
    python experiments/compare_rewards.py --seeds 0 --total-timesteps 4000
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from _common import DEFAULT_CHECKPOINT, ROOT, parse_args, run_cli

from alpha_env.provenance import (
    check_publish,
    git_state,
    incomplete_marker,
    output_folder,
    provenance,
    write_figure_json,
)

__all__ = ["Args", "main", "cli"]

REWARDS = ("pool", "sharpe")


@dataclass
class Args:
    """Arguments of compare_rewards.py."""

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """seeds (one run of each reward per seed)"""
    total_timesteps: int = 12_000
    """PPO steps per run"""
    checkpoint: str = str(DEFAULT_CHECKPOINT)
    """stage-1 actor (pretrained first when missing)"""
    out: str | None = None
    """output folder (default runs/compare_rewards; docs/figures with --publish)"""
    publish: bool = False
    """allow writing under docs/ (refused from a tree with uncommitted changes)"""
    allow_dirty: bool = False
    """with --publish, accept uncommitted changes and mark the file dirty"""
    quick_pretrain: bool = False
    """pretrain a tiny actor if the checkpoint is missing (tests)"""
    n_envs: int = 8
    """environments per run"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns the JSON document."""
    args = parse_args(Args, argv, description=__doc__.splitlines()[0])
    started = time.perf_counter()
    git = git_state()  # the code that runs: read now
    out = output_folder(args.out, args.publish, "docs/figures", "compare_rewards")
    check_publish(out / "compare_rewards.json", git, args.publish, args.allow_dirty)  # fail before the work
    from agents.job import PPOJobSettings, run_ppo_job
    from alpha_env.ace import ACE
    from alpha_env.ace.pools import build_pool
    from alpha_env.data import synthetic_market
    from alpha_env.pool import pool_metrics

    panel = synthetic_market(seed=0)
    ace = ACE(panel)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for reward in REWARDS:
                argv_run = ["--seed", str(seed), "--reward", reward, "--checkpoint", args.checkpoint,
                            "--total-timesteps", str(args.total_timesteps), "--runs-dir", tmp,
                            "--exp-name", f"reward_{reward}", "--no-progress", "--show-top", "1",
                            "--n-envs", str(args.n_envs), "--time-limit-minutes", "60"]
                if args.quick_pretrain:
                    argv_run += ["--quick-pretrain"]
                job = parse_args(PPOJobSettings, argv_run)
                summary = run_ppo_job(job, root=ROOT)
                if reward == "pool":
                    report = summary["pool"]
                else:  # offer its distinct alphas, in the order found, to a pool with the same settings
                    pool, _ = build_pool(ace, summary["evaluated"], job.env.pool, offer=True)
                    report = pool_metrics(pool, ace)
                best = summary["top"][0]["metrics"]["valid"]["sharpe"] if summary["top"] else float("nan")
                rows.append({
                    "seed": seed, "reward": reward, "evaluations": summary["evaluations"],
                    "distinct": summary["unique_alphas"],
                    "unique_rate_last_quarter": summary["unique_rate_last_quarter"],
                    "pool_size": report["size"],
                    "pool_valid_sharpe": report["metrics"].get("valid", {}).get("sharpe@0", float("nan")),
                    "pool_valid_ic": report["metrics"].get("valid", {}).get("ic", float("nan")),
                    "best_single_valid_sharpe": best,
                    "stopped_by_time_limit": bool(summary["stopped_by_time_limit"]),
                })
                print(json.dumps(rows[-1]))
    guards = incomplete_marker({"time_limit_minutes": any(r["stopped_by_time_limit"] for r in rows)})
    doc = {**guards, "args": {k: getattr(args, k) for k in ("seeds", "total_timesteps")}, "runs": rows}
    doc["provenance"] = provenance(argv, args.seeds, started, script="experiments/compare_rewards.py",
                                   git=git)
    out.mkdir(parents=True, exist_ok=True)
    write_figure_json(out / "compare_rewards.json", doc, doc["provenance"], args.publish,
                      allow_dirty=args.allow_dirty, indent=2)
    (out / "compare_rewards.md").write_text(_markdown(rows))
    print(_markdown(rows))
    return doc


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| seed | reward | evaluations | distinct | new in last quarter | pool size | pool valid IC | "
             "pool valid Sharpe | best single valid Sharpe |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['reward']} | {r['evaluations']} | {r['distinct']} | "
                     f"{r['unique_rate_last_quarter']:.2f} | {r['pool_size']} | {r['pool_valid_ic']:.3f} | "
                     f"{r['pool_valid_sharpe']:.2f} | {r['best_single_valid_sharpe']:.2f} |")
    return "\n".join(lines) + "\n"


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry: user errors print one line and exit 2."""
    return run_cli(main, "compare_rewards", argv)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
