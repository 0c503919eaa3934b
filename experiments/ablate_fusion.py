"""Fusion ablation: alpha encoder {none, stack, tree} x fusion {concat, cross_attention, gated}, with the
news as published vs shuffled across dates, on the synthetic contrast market.

The market and the held-out protocol are those of ``experiments/doc_conditioning.py`` (its functions are
reused): the news wording reveals the hidden regime, the regime decides whether 5-day reversal or 5-day
momentum pays, so an agent that reads the news can earn more than any single alpha. For every seed and
every configuration, one PPO agent (the pretrained decoder actor; with an alpha encoder, the frozen
pretrained encoder of the partial expression fused with the document vector into the decoder's memory)
trains on the matching news and one on the shuffled news (the control: same inputs' distribution, no
information), each for exactly ``--evaluations`` finished episodes (a budget in steps, never in wall
time). Each agent is then evaluated on held-out decision dates (the valid split) with the same sampling
seeds. ``--alpha-encoders none`` ignores the fusion (there is nothing to fuse): it is one configuration.

``--market us_2006_2013`` runs the same grid on the real US panel (``<data-root>/us_2006_2013``, 2006-10 ..
2013-11) with its Reuters news: the documents of each decision date are the articles available by that
date's close (the store's publication-time alignment), embedded the same way (hashed bag of words), and
shuffled across dates for the control; the backtest is the study's (delay 1, sector neutralization,
truncation 0.1, one-day glitches booked 0). There is no planted regime there, so the question is only
whether the news move the held-out reward at all.

Reported per configuration: held-out reward and valid share (mean ± sd over seeds) for both news
conditions, and the paired difference matching − shuffled (mean ± sd over seeds).

Usage::

    python experiments/ablate_fusion.py --quick                    # seconds: a smoke test
    python experiments/ablate_fusion.py --seeds 0 1 --evaluations 400
    python experiments/ablate_fusion.py ... --publish              # docs/figures/ablate_fusion.{json,md,png}
    python experiments/ablate_fusion.py --market us_2006_2013 ...  # ablate_fusion_us_2006_2013.{json,md,png}

Writes ``runs/ablate_fusion/ablate_fusion.{json,md,png}`` (``ablate_fusion_<market>`` for a real market;
or ``--out``) with the provenance block;
only ``--publish`` writes to ``docs/figures/``, and only from a clean tree.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import doc_conditioning as dc
import numpy as np
from _common import DEFAULT_CHECKPOINT, ROOT, ensure_pretrained, parse_args, run_cli

from alpha_env.evaluate.malloc import release_free_memory
from alpha_env.provenance import (
    check_publish,
    git_state,
    incomplete_marker,
    output_folder,
    provenance,
    write_figure_json,
)
from alpha_env.search.study_setup import StudySettings

__all__ = ["Args", "configurations", "build_panel", "regimes", "file_stem", "main", "cli"]

NAME = "ablate_fusion"


@dataclass
class Args(dc.PPORunSettings):
    """Arguments of ablate_fusion.py."""

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """agent seeds (each trains every configuration on matching and on shuffled news)"""
    fusions: list[str] = field(default_factory=lambda: ["concat", "cross_attention", "gated"])
    """fusion modes of the alpha encoding with the document"""
    alpha_encoders: list[str] = field(default_factory=lambda: ["none", "stack", "tree"])
    """encoders of the partial expression (none: the decoder reads the document alone)"""
    stack_checkpoint: str = "runs/tree_vs_stack/alpha_encoder.pt"
    """pretrained AlphaEncoder (experiments/pretrain_alpha_encoder.py --encoder both)"""
    tree_checkpoint: str = "runs/tree_vs_stack/alpha_tree_encoder.pt"
    """pretrained AlphaTreeEncoder (experiments/pretrain_alpha_encoder.py --encoder both)"""
    checkpoint: str = str(DEFAULT_CHECKPOINT)
    """stage-1 actor checkpoint (pretrained first when missing)"""
    quick_pretrain: bool = False
    """if the actor checkpoint is missing, pretrain a tiny one (tests)"""
    market: str = field(default="contrast", metadata={"choices": ["contrast", "us_2006_2013"]})
    """contrast: the synthetic market whose news reveal the regime; us_2006_2013: the real US panel with its
    Reuters news (under --data-root)"""
    data_root: str = StudySettings.data_root
    """folder holding us_2006_2013/ (default the study's: ../shared/data beside the checkout; relative
    paths: from the repository root)"""
    n_stocks: int = 0
    """with a real market: keep the stocks with the most closes (0: all)"""
    market_seed: int = 0
    """seed of the synthetic contrast market"""
    evaluations: int = 400
    """finished episodes per training run (the budget, in steps), equal for every run"""
    horizon: int = 20
    """trading days after the decision date whose Sharpe is the reward"""
    doc_days: int = 5
    """trading days of news shown before the decision date"""
    eval_samples: int = 2
    """expressions sampled per held-out decision date"""
    eval_stride: int = 3
    """use every n-th admissible held-out date"""
    time_limit_minutes: float = 30.0
    """wall-clock guard per run against a hung run (the budget ends a run); a guard that fires marks the
    results incomplete"""
    threads: int = 1
    """torch intra-op threads"""
    name: str | None = None
    """file name stem of the outputs (default ablate_fusion, or ablate_fusion_<market> for a real market)"""
    out: str | None = None
    """output folder (default runs/ablate_fusion; with --publish docs/figures)"""
    publish: bool = False
    """write docs/figures/ablate_fusion.*; refused from a tree with uncommitted changes"""
    allow_dirty: bool = False
    """with --publish, accept uncommitted changes and mark the files dirty"""
    quick: bool = False
    """smoke test: seed 0, 2 configurations, 16 evaluations, a small market"""


def configurations(args: Args) -> list[tuple[str, str]]:
    """``(alpha encoder, fusion)`` pairs of the grid; ``none`` appears once (fusion ``-``)."""
    out: list[tuple[str, str]] = []
    for encoder in args.alpha_encoders:
        if encoder == "none":
            out.append(("none", "-"))
        else:
            out += [(encoder, fusion) for fusion in args.fusions]
    return out


def file_stem(args: Args) -> str:
    """Stem of the output files: ``--name``, else ``ablate_fusion`` (contrast market) or
    ``ablate_fusion_<market>``."""
    if args.name:
        return args.name
    return NAME if args.market == "contrast" else f"{NAME}_{args.market}"


def build_panel(args: Args) -> tuple[Any, Any]:
    """The market of ``args.market`` and the backtest settings its environments use (``None``: the
    environment's default, the synthetic markets').

    Raises:
        DataError: the real market's folder is missing or has no news.
    """
    if args.market == "contrast":
        market = dc.Args(market="contrast", market_seed=args.market_seed, quick=args.quick)
        return dc.build_market(market), None
    from alpha_env.errors import DataError
    from alpha_env.search.study_setup import has_news, load_dataset, simulation_settings

    root = Path(args.data_root)
    folder = (root if root.is_absolute() else ROOT / root) / args.market
    study = StudySettings(n_stocks=args.n_stocks, progress=False)
    panel = load_dataset(str(folder), study)
    if not has_news(panel):
        raise DataError(f"{folder}: the panel has no news (news.parquet), which this ablation conditions on")
    return panel, simulation_settings(panel, study)


def regimes(panel: Any, index: np.ndarray) -> dict[str, int]:
    """``{date: regime}`` of the decision dates ``index``: the planted regime of the contrast market, -1
    (none) on a real market (its calm/stressed columns are then NaN)."""
    dates = panel.dates
    path = panel.metadata.get("regime_path")
    if path is None:
        return {str(dates[i]): -1 for i in index}
    regime = np.asarray(path, dtype=np.int64)
    return {str(dates[i]): int(regime[i]) for i in index}


def _encoder_settings(args: Args, encoder: str, fusion: str) -> Any:
    from agents.settings import EncoderSettings

    if encoder == "none":
        return EncoderSettings()
    checkpoint = args.stack_checkpoint if encoder == "stack" else args.tree_checkpoint
    return EncoderSettings(alpha_encoder=encoder, fusion=fusion, alpha_checkpoint=str(ROOT / checkpoint)
                           if not Path(checkpoint).is_absolute() else checkpoint)


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if arr.size > 1 else float("nan"),
            "values": arr.tolist()}


def _table(args: Args, runs: list[dict], configs: list[tuple[str, str]]) -> tuple[list[dict], str]:
    rows = []
    for encoder, fusion in configs:
        mine = [r for r in runs if r["alpha_encoder"] == encoder and r["fusion"] == fusion]
        by = {(r["seed"], r["condition"]): r["heldout"] for r in mine}
        seeds = sorted({r["seed"] for r in mine})
        row = {"alpha_encoder": encoder, "fusion": fusion}
        for cond in dc.CONDITIONS:
            row[cond] = _stats([by[(s, cond)]["mean_reward"] for s in seeds])
            row[f"{cond}_valid"] = _stats([by[(s, cond)]["valid_share"] for s in seeds])
        row["difference"] = _stats([by[(s, "matching")]["mean_reward"] - by[(s, "shuffled")]["mean_reward"]
                                    for s in seeds])
        row["train_seconds"] = float(np.mean([r["train_seconds"] for r in mine]))
        rows.append(row)

    def pm(stat: dict[str, float], fmt: str = "+.3f") -> str:
        sd = "n/a" if math.isnan(stat["sd"]) else format(stat["sd"], ".3f")
        return f"{format(stat['mean'], fmt)} ± {sd}"

    lines = [
        "| alpha encoder | fusion | held-out reward, matching news | shuffled news | matching − shuffled | "
        "valid share (matching / shuffled) | train s/run |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['alpha_encoder']} | {row['fusion']} | {pm(row['matching'])} | "
                     f"{pm(row['shuffled'])} | {pm(row['difference'])} | "
                     f"{row['matching_valid']['mean']:.0%} / {row['shuffled_valid']['mean']:.0%} | "
                     f"{row['train_seconds']:.0f} |")
    return rows, "\n".join(lines) + "\n"


def _chart(path: Path, rows: list[dict], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["alpha_encoder"] if r["fusion"] == "-" else f"{r['alpha_encoder']}\n{r['fusion']}"
              for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 2), 4.0))
    for offset, cond, color in ((-0.2, "matching", "#1f77b4"), (0.2, "shuffled", "#bbbbbb")):
        means = [r[cond]["mean"] for r in rows]
        sds = [0.0 if math.isnan(r[cond]["sd"]) else r[cond]["sd"] for r in rows]
        ax.bar(x + offset, means, 0.4, yerr=sds, capsize=3, color=color, label=f"{cond} news")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("held-out reward (window Sharpe), mean ± sd over seeds")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the grid; returns the report written to ``<out>/ablate_fusion.json``."""
    args = parse_args(Args, argv)
    from alpha_env.errors import SettingsError

    git = git_state()
    out = output_folder(args.out, args.publish, "docs/figures", NAME)
    out = out if out.is_absolute() else ROOT / out
    name = file_stem(args)
    check_publish(out / f"{name}.json", git, args.publish, args.allow_dirty)
    if args.quick:
        args.seeds, args.evaluations, args.eval_samples, args.eval_stride = [0], 16, 1, 20
        args.n_envs, args.n_steps, args.batch_size = 2, 16, 16
    if args.quick and args.market != "contrast":
        args.n_stocks = args.n_stocks or 40
    if not args.seeds:
        raise SettingsError("--seeds is empty")
    if args.evaluations < 1 or args.eval_samples < 1 or args.eval_stride < 1:
        raise SettingsError("--evaluations, --eval-samples and --eval-stride must be >= 1")
    for encoder in args.alpha_encoders:
        if encoder not in ("none", "stack", "tree"):
            raise SettingsError(f"--alpha-encoders: unknown encoder {encoder!r} (none, stack, tree)")
    configs = configurations(args)
    if args.quick:
        configs = configs[:1] + [c for c in configs if c[0] != "none"][:1]

    import torch
    from rich.console import Console

    from alpha_env.env.alpha_stack_env import AlphaStackEnv
    from alpha_env.grammar import Codebook

    torch.set_num_threads(args.threads)
    console = Console()
    started = time.perf_counter()
    panel, simulation = build_panel(args)
    checkpoint = ensure_pretrained(args.checkpoint, Codebook.default(), quick=args.quick_pretrain,
                                   console=console)
    train_sl = panel.splits["train"]
    env_kwargs = {"horizon": args.horizon, "doc_days": args.doc_days, "reward": "sharpe",
                  "cache_bytes": 32 * 2**20, "max_window": train_sl.stop - (train_sl.start or 0) - 1,
                  "refuse_degenerate": False}  # the type rules' masks, as the main job and the published runs
    if simulation is not None:
        env_kwargs["settings"] = simulation
    eval_panel, split_idx = dc.evaluation_panel(panel, "valid")
    warm = max(args.doc_days, 60)
    lo = max(int(split_idx[0]), (eval_panel.splits["train"].start or 0) + warm)
    hi = min(int(split_idx[-1]), eval_panel.splits["train"].stop - args.horizon - 1)
    eval_idx = np.arange(lo, hi + 1, args.eval_stride)
    if eval_idx.size == 0:
        raise SettingsError(f"the valid split has no room for horizon {args.horizon}")
    dates = panel.dates
    regime_of = regimes(panel, eval_idx)
    console.print(f"[bold]fusion ablation[/bold]: {len(configs)} configurations x {len(dc.CONDITIONS)} news "
                  f"conditions x seeds {args.seeds}, {args.evaluations} evaluations per run, "
                  f"{eval_idx.size} valid dates x {args.eval_samples} samples")

    runs: list[dict[str, Any]] = []
    for seed in args.seeds:
        for condition in dc.CONDITIONS:
            table = dc.document_table(panel, None if condition == "matching" else 10_000 + seed)
            envs = [AlphaStackEnv(eval_panel, max_len=args.max_len, document_embeddings=table, **env_kwargs)
                    for _ in range(min(8, eval_idx.size * args.eval_samples))]
            for encoder, fusion in configs:
                settings = _encoder_settings(args, encoder, "concat" if fusion == "-" else fusion)
                model, tracker, seconds, stopped = dc.train_agent(args, panel, table, seed, checkpoint,
                                                               env_kwargs, settings)
                episodes = dc.evaluate_policy(model.policy, envs, dates[eval_idx], args.eval_samples,
                                              20_000 + seed)
                summary = dc.summarise(episodes, regime_of)
                evaluations = tracker.n_evaluations
                del model, tracker
                release_free_memory()  # a big panel's freed arrays would otherwise pile up run after run
                runs.append({"seed": seed, "condition": condition, "alpha_encoder": encoder, "fusion": fusion,
                             "train_seconds": seconds, "evaluations": evaluations,
                             "stopped_by_time_limit": stopped, "heldout": summary})
                regimes_seen = ("" if math.isnan(summary["calm"]) and math.isnan(summary["stressed"]) else
                                f" (calm {summary['calm']:+.2f}, stressed {summary['stressed']:+.2f})")
                console.print(f"  seed {seed} {condition:9s} {encoder:5s} {fusion:15s}: {seconds:5.0f} s, "
                              f"held-out {summary['mean_reward']:+.3f}{regimes_seen}, "
                              f"valid {summary['valid_share']:.0%}")
            for env in envs:
                env.close()
            del envs
            release_free_memory()

    rows, markdown = _table(args, runs, configs)
    seconds = time.perf_counter() - started
    market = (f"Contrast market (seed {args.market_seed})" if args.market == "contrast" else
              f"{args.market} ({panel.shape[1]} stocks, Reuters news, study backtest)")
    header = (f"{market}, Sharpe over {args.horizon} days, "
              f"{args.evaluations} training episodes per run, seeds {args.seeds}; held-out: {eval_idx.size} "
              f"valid decision dates ({dates[eval_idx[0]]} .. {dates[eval_idx[-1]]}) x {args.eval_samples} "
              f"samples. Mean ± sd over seeds. Wall time {seconds:.0f} s.\n\n")
    guards = incomplete_marker({"time_limit_minutes": any(r["stopped_by_time_limit"] for r in runs)})
    report = {**guards, "args": dataclasses.asdict(args), "seconds": seconds, "rows": rows, "runs": runs,
              "eval_dates": [str(dates[i]) for i in eval_idx], "markdown": header + markdown}
    report["provenance"] = provenance(argv, args.seeds, started, script="experiments/ablate_fusion.py",
                                      git=git)
    write_figure_json(out / f"{name}.json", report, report["provenance"], args.publish,
                      allow_dirty=args.allow_dirty, indent=1)
    (out / f"{name}.md").write_text(report["markdown"])
    _chart(out / f"{name}.png", rows, f"fusion ablation, {args.market} market, {args.evaluations} "
                                      f"episodes/run, seeds {args.seeds}")
    console.print(report["markdown"])
    console.print(f"Written: {out / (name + '.json')}, .md and .png")
    return report


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry: user errors print one line and exit 2."""
    return run_cli(main, NAME, argv)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
