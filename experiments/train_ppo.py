"""The main job: PPO fine-tunes the pretrained AlphaDecoder to write alphas with a high backtest Sharpe.

With no arguments it runs offline on the embedded synthetic market (planted signals of known strength),
loads the stage-1 actor from ``artifacts/alpha_decoder.pt`` (pretraining one first when it is missing),
trains PPO for a few minutes, stores every finished alpha in ``runs/<run>/alphas.db`` and prints the top
alphas with their train and valid metrics, how they compare with the planted signals, and where the
TensorBoard logs and the database are.

Usage::

    python experiments/train_ppo.py                                   # defaults (minutes)
    python experiments/train_ppo.py --total-timesteps 100000 --algo maskable_ppo --seed 1
    python experiments/train_ppo.py --actor-init random               # ablation: no pretraining
    python experiments/train_ppo.py --data ../shared/data/sp500_2013_2018 --neutralization sector
    python experiments/train_ppo.py --doc-mode                        # news-conditioned episodes
    python experiments/train_ppo.py --resume runs/<run>               # continue a run
    tensorboard --logdir runs
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    DEFAULT_CHECKPOINT,
    ROOT,
    cache_stats_of,
    ensure_pretrained,
    env_label,
    load_market,
    make_env_fn,
    make_vec,
    parse_args,
    run_cli,
    run_name,
)

__all__ = ["Args", "main", "cli"]

DOCUMENT_DIM = 384
"""Width of document vectors in doc mode (the pretrained actor's ``doc_dim``; MiniLM's size)."""


@dataclass
class Args:
    """Arguments of train_ppo.py (the main job)."""

    exp_name: str = "ppo_decoder"
    """experiment name (part of the run name)"""
    seed: int = 0
    """seed of everything: environment resets, PPO sampling, a random actor's initialization"""
    data: str | None = None
    """dataset folder or price file (default: the embedded synthetic market)"""
    total_timesteps: int = 25_000
    """environment steps (tokens written) to train for"""
    max_evaluations: int | None = None
    """stop once this many alphas (finished episodes) were evaluated (equal budgets in comparisons)"""
    time_limit_minutes: float = 6.0
    """wall-clock guard: stop training after this many minutes even if timesteps remain"""
    algo: str = dataclasses.field(default="ppo", metadata={"choices": ["ppo", "maskable_ppo"]})
    """ppo (the policy masks its own logits) or maskable_ppo (sb3-contrib MaskablePPO)"""
    actor_init: str = dataclasses.field(default="pretrained", metadata={"choices": ["pretrained", "random"]})
    """initial actor: the stage-1 checkpoint, or a randomly initialized decoder (ablation)"""
    checkpoint: str = str(DEFAULT_CHECKPOINT)
    """stage-1 actor checkpoint (pretrained first when missing)"""
    quick_pretrain: bool = False
    """if the checkpoint is missing, pretrain a tiny decoder (tests) instead of the default one"""
    n_envs: int = 8
    """parallel environments"""
    vec_env: str = dataclasses.field(default="dummy", metadata={"choices": ["dummy", "subproc"]})
    """dummy (one process) or subproc (one worker process per environment)"""
    max_len: int = 15
    """most tokens per expression (END excluded)"""
    cache_mb: int = 64
    """sub-expression cache budget of each environment's evaluator, in MiB"""
    neutralization: str = "market"
    """backtest neutralization: none, market, sector, industry, subindustry"""
    delay: int = 1
    """backtest delay in days (0 or 1)"""
    cost_bps: float = 0.0
    """transaction cost in basis points of traded value (reward and reports)"""
    glitch_factor: float = 0.0
    """return cleaning: one-day price glitches (a close off by more than this factor either way, undone the
    next day) book 0 in the reward and reports; 0 = off, 1.5 recommended on real data (docs/ace.md)"""
    glitch_band: float = 0.05
    """how close (fraction) the next close must come back to the pre-jump close for --glitch-factor"""
    max_return: float = 0.0
    """return cleaning: any daily return above this size books 0 (0 = off)"""
    doc_mode: bool = False
    """document-conditioned episodes: a decision date, the news before it, the Sharpe of the days after"""
    embeddings: str | None = None
    """document-embedding table (parquet from experiments/encode_documents.py); default in doc mode: the
    market's own news encoded with the bundled MiniLM"""
    doc_encoder: str = dataclasses.field(default="hashed", metadata={"choices": ["hashed", "minilm"]})
    """doc mode without --embeddings: hashed bag-of-words of the news (fast, torch-free) or the bundled
    MiniLM sentence encoder"""
    shuffle_documents: bool = False
    """doc mode control: shuffle the embedding table across dates (the news no longer match the market)"""
    horizon: int = 20
    """doc mode: trading days after the decision date whose Sharpe is the reward"""
    hindsight: bool = False
    """doc mode: before PPO, fine-tune the actor on (news, expressions that paid after similar news) pairs
    from the train split (agents.hindsight; the stage that makes the agent read the news)"""
    hindsight_corpus: int = 300
    """doc mode with --hindsight: candidate expressions (each also negated)"""
    hindsight_epochs: int = 40
    """doc mode with --hindsight: teacher-forcing epochs"""
    learning_rate: float = 3e-4
    """peak learning rate (top decoder layer and value head)"""
    lr_schedule: str = dataclasses.field(default="stlr", metadata={"choices": ["stlr", "constant"]})
    """slanted triangular (stlr) or constant learning rate"""
    layer_lr_decay: float = 1 / 2.6
    """discriminative learning rates: each decoder layer group learns at this multiple of the one above"""
    unfreeze_every: int = 0
    """gradual unfreezing: unfreeze one decoder layer group every N rollouts (0: all trainable at once)"""
    ent_coef: float = 0.01
    """entropy bonus (keeps the pretrained actor from collapsing)"""
    kl_coef: float = 0.0
    """penalty on KL(policy || initial actor); 0 turns it off"""
    n_steps: int = 64
    """steps per environment per rollout (8 environments x 64 = 512-step rollouts; FineTuneSettings: 128)"""
    batch_size: int = 128
    """PPO minibatch size"""
    n_epochs: int = 4
    """PPO passes over each rollout"""
    target_kl: float | None = 0.05
    """stop an update early when the approximate KL exceeds 1.5x this (none: never)"""
    store: str | None = None
    """alpha store (SQLite path) shared by the environments (default: runs/<run>/alphas.db)"""
    runs_dir: str = "runs"
    """folder of the run folders"""
    resume: str | None = None
    """continue a run: its folder (runs/<run>) or a saved model .zip"""
    save_every: int = 10_000
    """save a resumable model every this many timesteps (and at the end)"""
    top_n: int = 10
    """rows of the final table and of the TensorBoard top-alpha table"""
    final: bool = False
    """also show test-split metrics (only for the final report; the test split is never used otherwise)"""
    threads: int = 1
    """torch intra-op threads (1 is fastest for this small model on a shared 2-core machine)"""
    progress: bool = True
    """show a progress bar"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the job; returns the summary written to ``runs/<run>/summary.json``."""
    args = parse_args(Args, argv)
    resume_model: Path | None = None
    if args.resume:  # checked first: a wrong path fails before the heavy imports
        resume_model, run_dir = _resume_paths(Path(args.resume))
    import torch
    from rich.console import Console

    from agents import (
        AlphaMetricsCallback,
        EvaluationBudgetCallback,
        FineTuneSettings,
        GradualUnfreezeCallback,
        TimeLimitCallback,
        build_agent,
        load_agent,
    )
    from alpha_env.ace import ACE, SimulationSettings
    from alpha_env.grammar import Codebook
    from alpha_env.search import AlphaTracker
    from encoders import load_checkpoint

    # logs and CI capture output without a terminal: keep expressions readable there
    console = Console() if sys.stdout.isatty() else Console(width=160)
    started = time.perf_counter()

    # ---- seeding: the one place. The environments are seeded by their first reset (make_vec_env), the
    # algorithm (sampling, minibatches) and a random actor's weights by `seed`; torch runs single-threaded.
    torch.set_num_threads(args.threads)
    seed = int(args.seed)

    # ---- run folder
    if resume_model is not None:
        name = run_dir.name
    else:
        label = env_label(args.data)
        label = label.replace("AlphaStack", "AlphaStackNews") if args.doc_mode else label
        name = run_name(label, args.exp_name, seed)
        runs = Path(args.runs_dir)
        run_dir = (runs if runs.is_absolute() else ROOT / runs) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    store_path = Path(args.store) if args.store else run_dir / "alphas.db"

    # ---- market, backtest settings, documents
    panel = load_market(args.data)
    settings = SimulationSettings(delay=args.delay, neutralization=args.neutralization,
                                  cost_bps=args.cost_bps, glitch_factor=args.glitch_factor,
                                  glitch_band=args.glitch_band, max_return=args.max_return)
    codebook = Codebook.default()
    embeddings = _document_table(args, panel, console) if args.doc_mode else None
    env_kwargs: dict[str, Any] = {"cache_bytes": args.cache_mb * 2**20}
    if args.doc_mode:
        env_kwargs["horizon"] = args.horizon
    env_fn = make_env_fn(panel, max_len=args.max_len, store=str(store_path), settings=settings,
                         document_embeddings=embeddings, **env_kwargs)
    vec_env = make_vec(env_fn, args.n_envs, seed, args.vec_env)
    report_ace = ACE(panel, settings)  # metrics for reports only (valid/test never reach the reward)

    # ---- the agent
    fine_tune = FineTuneSettings(
        learning_rate=args.learning_rate, lr_schedule=args.lr_schedule, layer_lr_decay=args.layer_lr_decay,
        n_steps=args.n_steps, batch_size=args.batch_size, n_epochs=args.n_epochs, ent_coef=args.ent_coef,
        kl_coef=args.kl_coef, target_kl=args.target_kl, unfreeze_every=args.unfreeze_every,
    )
    if resume_model is not None:  # the saved model holds the actor: no stage-1 checkpoint needed
        model = load_agent(None, resume_model, vec_env)  # the algorithm the run was saved with
        console.print(f"Resuming {resume_model} at timestep {model.num_timesteps}")
        checkpoint = Path(str(model.policy.init_checkpoint or args.checkpoint))
        decoder_config = model.policy.decoder_config
    else:
        checkpoint = ensure_pretrained(args.checkpoint, codebook, ace=report_ace, quick=args.quick_pretrain,
                                       seed=seed, console=console)
        if args.hindsight and args.doc_mode and args.actor_init == "pretrained":
            from agents.hindsight import HindsightSettings, run_hindsight_stage

            staged = run_dir / "hindsight_actor.pt"
            console.print("Hindsight document stage: simulating candidates on the train split ...")
            info = run_hindsight_stage(
                checkpoint, staged, report_ace, embeddings, horizon=args.horizon, doc_days=5,
                settings=HindsightSettings(corpus_size=args.hindsight_corpus, epochs=args.hindsight_epochs,
                                           corpus_max_len=args.max_len, seed=seed))
            console.print(f"  {info['candidates']} candidates on {info['decision_dates']} dates, "
                          f"{info['distinct_first_targets']} distinct first targets, "
                          f"{info['seconds']:.0f} s; actor written to {staged}")
            checkpoint = staged
        decoder_config = load_checkpoint(checkpoint, codebook, kind="alpha_decoder").model.config.to_dict()
        model = build_agent(args.algo, vec_env, decoder_config=decoder_config,
                            init_checkpoint=checkpoint if args.actor_init == "pretrained" else None,
                            settings=fine_tune, seed=seed)
    from stable_baselines3.common.logger import configure

    model.set_logger(configure(str(run_dir), ["tensorboard", "csv"]))

    # ---- callbacks: alpha metrics in TensorBoard, checkpoints, unfreezing, the time guard
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback

    hparams = {**dataclasses.asdict(args), **fine_tune.as_dict(),
               "decoder": f"d{decoder_config['d_model']}x{decoder_config['num_layers']}"}
    tracker = AlphaTracker(report_ace, top_k=args.top_n)
    time_limit = TimeLimitCallback(args.time_limit_minutes * 60.0)
    callbacks = [
        AlphaMetricsCallback(tracker, hparams=hparams, cache_stats=cache_stats_of(vec_env), top_n=args.top_n),
        CheckpointCallback(max(args.save_every // args.n_envs, 1), str(run_dir / "checkpoints"),
                           name_prefix="model"),
        time_limit,
    ]
    if args.max_evaluations is not None:
        callbacks.append(EvaluationBudgetCallback(tracker, args.max_evaluations))
    if args.unfreeze_every > 0:
        callbacks.append(GradualUnfreezeCallback(every_n_rollouts=args.unfreeze_every))

    # ---- train
    console.print(f"[bold]{name}[/bold]: {args.algo} · actor {args.actor_init} · {args.n_envs} envs · "
                  f"{args.total_timesteps} timesteps · logs in {run_dir}")
    train_start = time.perf_counter()
    model.learn(total_timesteps=args.total_timesteps, callback=CallbackList(callbacks),
                progress_bar=args.progress, reset_num_timesteps=resume_model is None)
    train_seconds = time.perf_counter() - train_start
    model.save(run_dir / "model.zip")
    vec_env.close()

    # ---- report
    summary = _summary(args, tracker, report_ace, panel, run_dir, store_path, model.num_timesteps,
                       train_seconds, time.perf_counter() - started, time_limit.stopped, checkpoint)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    _print_report(console, summary, args)
    return summary


# --------------------------------------------------------------------------- helpers
def _resume_paths(path: Path) -> tuple[Path, Path]:
    """The model file and run folder of ``--resume`` (a run folder or a model .zip)."""
    from alpha_env.errors import SettingsError

    if path.is_dir():
        candidates = [path / "model.zip", *sorted((path / "checkpoints").glob("model_*_steps.zip"),
                                                   key=lambda p: int(p.stem.split("_")[-2]), reverse=True)]
        for candidate in candidates:
            if candidate.is_file():
                return candidate, path
        raise SettingsError(f"--resume {path}: no model.zip or checkpoints/model_*_steps.zip in the folder")
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        return path, run_dir
    raise SettingsError(f"--resume {path}: no such run folder or model file")


def _document_table(args: Args, panel: Any, console: Any) -> Any:
    """The date → embedding table of document mode (optionally shuffled across dates)."""
    import pandas as pd

    from alpha_env.env.documents import EmbeddingTable
    from alpha_env.errors import SettingsError

    if args.embeddings:
        table = EmbeddingTable.from_frame(pd.read_parquet(args.embeddings))
    else:
        if panel.documents is None or len(panel.documents) == 0:
            raise SettingsError("--doc-mode needs documents: this market has none; pass --embeddings PATH")
        store = panel.documents if panel.documents.is_aligned_to(panel.dates) else \
            panel.documents.aligned(panel.dates)
        if args.doc_encoder == "hashed":
            from alpha_env.env.documents import embed_document_store

            table = embed_document_store(store, dim=DOCUMENT_DIM)
        else:
            from encoders import DocumentEncoder

            keep = np.flatnonzero(~np.isnat(np.asarray(store.available_dates, dtype="datetime64[D]")))
            texts = [store.text(int(k)) for k in keep]
            console.print(f"Encoding {len(texts)} news texts with the bundled MiniLM (cached on disk)...")
            vectors = DocumentEncoder(cache_dir=str(ROOT / "runs" / "cache")).encode(texts)
            dates = np.asarray(store.available_dates, dtype="datetime64[D]")[keep]
            table = EmbeddingTable(dates, vectors.astype(np.float32))
    if args.shuffle_documents:
        order = np.random.default_rng(args.seed).permutation(len(table))
        table = EmbeddingTable(table.dates, table.vectors[order])
    return table


def _split_metrics(tracker: Any, expression: str, splits: tuple[str, ...]) -> dict[str, dict[str, float]]:
    metrics = tracker.metrics(expression)
    keys = ("sharpe", "fitness", "returns", "turnover", "max_drawdown")
    return {s: {k: metrics.get(s, {}).get(k, float("nan")) for k in keys} for s in splits}


def _summary(args: Args, tracker: Any, ace: Any, panel: Any, run_dir: Path, store_path: Path, timesteps: int,
             train_seconds: float, total_seconds: float, stopped: bool, checkpoint: Path) -> dict[str, Any]:
    splits = ("train", "valid", "test") if args.final else ("train", "valid")
    top = []
    for rec in tracker.top(args.top_n):
        top.append({"expression": rec.expression, "reward": rec.reward, "count": rec.count,
                    "first_seen": rec.first_seen, "alpha_id": rec.alpha_id,
                    "metrics": _split_metrics(tracker, rec.expression, splits)})
    summary: dict[str, Any] = {
        "run": run_dir.name, "run_dir": str(run_dir), "store": str(store_path),
        "algo": args.algo, "actor_init": args.actor_init, "checkpoint": str(checkpoint), "seed": args.seed,
        "simulation_settings": ace.settings.to_dict(),
        "timesteps": int(timesteps), "evaluations": tracker.n_evaluations,
        "valid_rate": float(np.mean(tracker.history.valid)) if tracker.n_evaluations else float("nan"),
        "unique_alphas": len(tracker.records), "train_seconds": train_seconds, "total_seconds": total_seconds,
        "stopped_by_time_limit": stopped, "top": top,
        "evaluated": list(tracker.records),  # every distinct valid alpha, in the order first found
        "mean_reward_last_quarter": _tail_mean(tracker.history.rewards, 0.25),
        "best_so_far": tracker.history.best_so_far().tolist(),
    }
    planted = (panel.metadata or {}).get("planted")
    if planted and not args.doc_mode:
        rows = []
        for p in planted:
            m = _split_metrics(tracker, p["expression"], splits)
            rows.append({"name": p["name"], "expression": p["expression"],
                         "oracle_sharpe": p.get("oracle_sharpe"), "metrics": m})
        best_planted = max(rows, key=lambda r: r["metrics"]["train"]["sharpe"])
        ground: dict[str, Any] = {"planted": rows, "best_planted": best_planted["expression"],
                                  "best_planted_train_sharpe": best_planted["metrics"]["train"]["sharpe"],
                                  "best_planted_valid_sharpe": best_planted["metrics"]["valid"]["sharpe"]}
        if top:
            found = top[0]["metrics"]
            ground["found_train_sharpe"] = found["train"]["sharpe"]
            ground["found_valid_sharpe"] = found["valid"]["sharpe"]
            ground["ratio_train"] = found["train"]["sharpe"] / ground["best_planted_train_sharpe"]
            ground["ratio_valid"] = found["valid"]["sharpe"] / ground["best_planted_valid_sharpe"]
            ground["reached_80_percent"] = bool(ground["ratio_train"] >= 0.8)
            ground["first_evaluation_at_80_percent"] = _first_reaching(
                tracker.history.best_so_far(), 0.8 * ground["best_planted_train_sharpe"])
        summary["ground_truth"] = ground
    return summary


def _tail_mean(values: list[float], share: float) -> float:
    """Mean of the last ``share`` of ``values`` (NaN when empty): the learned policy's typical reward."""
    if not values:
        return float("nan")
    k = max(1, int(len(values) * share))
    return float(np.mean(values[-k:]))


def _first_reaching(best: Any, level: float) -> int | None:
    hits = np.flatnonzero(np.nan_to_num(best, nan=-np.inf) >= level)
    return int(hits[0]) + 1 if hits.size else None


def _print_report(console: Any, summary: dict[str, Any], args: Args) -> None:
    from rich.table import Table

    splits = ("train", "valid", "test") if args.final else ("train", "valid")
    table = Table(title=f"Top alphas of {summary['run']}", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("expression", overflow="fold")
    for s in splits:
        table.add_column(f"Sharpe {s}", justify="right")
    table.add_column("fitness train", justify="right")
    table.add_column("turnover", justify="right")
    table.add_column("found at", justify="right")
    for i, row in enumerate(summary["top"], start=1):
        m = row["metrics"]
        table.add_row(str(i), row["expression"], *(f"{m[s]['sharpe']:.2f}" for s in splits),
                      f"{m['train']['fitness']:.2f}", f"{m['train']['turnover']:.2f}",
                      str(row["first_seen"] + 1))
    console.print(table)
    ground = summary.get("ground_truth")
    if ground:
        console.print("Planted signals (synthetic market ground truth):")
        for p in ground["planted"]:
            m = p["metrics"]
            console.print(f"  {p['expression']}: Sharpe train {m['train']['sharpe']:.2f}, "
                          f"valid {m['valid']['sharpe']:.2f}")
        if "ratio_train" in ground:
            verdict = "[green]reached[/green]" if ground["reached_80_percent"] else "[red]not reached[/red]"
            first = ground["first_evaluation_at_80_percent"]
            console.print(
                f"Best found alpha: train Sharpe {ground['found_train_sharpe']:.2f} = "
                f"{ground['ratio_train']:.0%} of the best planted signal "
                f"({ground['best_planted_train_sharpe']:.2f}); 80% target {verdict}"
                + (f" after {first} evaluations" if first else "")
                + f". Valid Sharpe {ground['found_valid_sharpe']:.2f} vs planted "
                f"{ground['best_planted_valid_sharpe']:.2f} ({ground['ratio_valid']:.0%})."
            )
    limit = " (stopped by the time limit)" if summary["stopped_by_time_limit"] else ""
    console.print(
        f"{summary['timesteps']} timesteps, {summary['evaluations']} alphas evaluated "
        f"({summary['unique_alphas']} distinct valid) in {summary['train_seconds']:.0f} s{limit}; "
        f"total {summary['total_seconds']:.0f} s."
    )
    run_dir = Path(summary["run_dir"])
    console.print(f"TensorBoard logs: {run_dir}   (tensorboard --logdir {run_dir.parent})")
    console.print(f"Alpha database:   {summary['store']}   (alpha-env top --db {summary['store']})")
    console.print(f"Model:            {run_dir / 'model.zip'}   (continue with --resume {run_dir})")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry: user errors (bad data, settings, checkpoints) print one line and exit 2."""
    return run_cli(main, "train_ppo", argv)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
