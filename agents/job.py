"""The main job: PPO fine-tunes the pretrained AlphaDecoder to write alphas with a high backtest reward.

``experiments/train_ppo.py`` parses :class:`PPOJobSettings` from the command line and calls
:func:`run_ppo_job`; other experiments (``compare_actor_init.py``, ``doc_conditioning.py``) call it too.
Every setting is declared once: the job's own fields here, the backtest and universe in
:class:`~alpha_env.ace.SimulationSettings`, the episode and reward in :class:`~alpha_env.env.EnvSettings`,
the PPO hyperparameters in :class:`~agents.builders.FineTuneSettings`; :mod:`alpha_env.options` turns them
all into command-line options.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.settings import EncoderSettings, FineTuneSettings
from alpha_env.ace import SimulationSettings
from alpha_env.env.settings import EnvSettings
from alpha_env.pool.settings import PoolSettings
from encoders.settings import DocFinetuneSettings

__all__ = ["PPOJobSettings", "PoolCurve", "run_ppo_job", "DEFAULT_CHECKPOINT", "DOCUMENT_DIM"]

DOCUMENT_DIM = 384
"""Width of document vectors in doc mode (the pretrained actor's ``doc_dim``; MiniLM's size)."""

DEFAULT_CHECKPOINT = "artifacts/alpha_decoder.pt"
"""Where ``experiments/pretrain_decoder.py`` writes the stage-1 actor (relative to the checkout)."""


@dataclass
class PPOJobSettings:
    """Arguments of train_ppo.py (the main job)."""

    exp_name: str = "ppo_decoder"
    """experiment name (part of the run name)"""
    seed: int = 0
    """seed of everything: environment resets, PPO sampling, a random actor's initialization"""
    data: str | None = None
    """dataset folder or price file (default: the embedded synthetic market)"""
    total_timesteps: int = 25_000
    """environment steps (tokens written) of the run; --resume continues the run up to this total"""
    max_evaluations: int | None = None
    """stop once this many alphas (finished episodes) were evaluated (equal budgets in comparisons)"""
    time_limit_minutes: float = 6.0
    """wall-clock guard: stop training after this many minutes even if timesteps remain"""
    algo: str = field(default="ppo", metadata={"choices": ["ppo", "maskable_ppo"]})
    """ppo (the policy masks its own logits) or maskable_ppo (sb3-contrib MaskablePPO)"""
    actor_init: str = field(default="pretrained", metadata={"choices": ["pretrained", "random"]})
    """initial actor: the stage-1 checkpoint, or a randomly initialized decoder (ablation)"""
    checkpoint: str = DEFAULT_CHECKPOINT
    """stage-1 actor checkpoint (pretrained first when missing)"""
    quick_pretrain: bool = False
    """if the checkpoint is missing, pretrain a tiny decoder (tests) instead of the default one"""
    n_envs: int = 8
    """parallel environments"""
    vec_env: str = field(default="dummy", metadata={"choices": ["dummy", "subproc"]})
    """dummy (one process) or subproc (one worker process per environment)"""
    ray: str | None = None
    """run the environments in Ray actors (pip install alpha-env[ray]): auto (join the running cluster,
    else start Ray here), local, or a cluster address (host:6379); the learner stays in this process"""
    workers: int = 2
    """with --ray: Ray actors holding the environments (n_envs split among them)"""
    doc_mode: bool = False
    """document-conditioned episodes: a decision date, the news before it, the Sharpe of the days after"""
    embeddings: str | None = None
    """document-embedding table (parquet from experiments/encode_documents.py); default in doc mode: the
    market's own news encoded with the bundled MiniLM"""
    doc_encoder: str = field(default="hashed", metadata={"choices": ["hashed", "minilm"]})
    """doc mode without --embeddings: hashed bag-of-words of the news (fast, torch-free) or the bundled
    MiniLM sentence encoder"""
    shuffle_documents: bool = False
    """doc mode control: shuffle the embedding table across dates (the news no longer match the market)"""
    hindsight: bool = False
    """doc mode: before PPO, fine-tune the actor on (news, expressions that paid after similar news) pairs
    from the train split (agents.hindsight; the stage that makes the agent read the news)"""
    hindsight_corpus: int = 300
    """doc mode with --hindsight: candidate expressions (each also negated)"""
    hindsight_epochs: int = 40
    """doc mode with --hindsight: teacher-forcing epochs"""
    finetune_doc_encoder: bool = False
    """doc mode: the policy embeds each episode's news itself and the document encoder's top layers train
    during the hindsight stage and PPO (end-to-end stage 2; --doc-finetune-* options)"""
    doc_finetune: DocFinetuneSettings = field(default_factory=DocFinetuneSettings,
                                              metadata={"prefix": "doc_finetune_"})
    """with --finetune-doc-encoder: the model (its width must be the document vectors'), how many top layer
    groups train, gradual unfreezing, discriminative rates, texts per window"""
    store: str | None = None
    """alpha store (SQLite path) shared by the environments (default: runs/<run>/alphas.db)"""
    runs_dir: str = "runs"
    """folder of the run folders"""
    resume: str | None = None
    """continue a run: its folder (runs/<run>) or a saved model .zip"""
    save_every: int = 10_000
    """save a resumable model every this many timesteps (and at the end)"""
    show_top: int = 10
    """rows of the final table and of the TensorBoard top-alpha table"""
    final: bool = False
    """also show test-split metrics (only for the final report; the test split is never used otherwise)"""
    threads: int = 1
    """torch intra-op threads (1 is fastest for this small model on a shared 2-core machine)"""
    progress: bool = True
    """show a progress bar"""
    simulation: SimulationSettings = field(default_factory=SimulationSettings)
    """the backtest and universe (each field is an option: --delay, --neutralization, --cost-bps, ...)"""
    env: EnvSettings = field(default_factory=lambda: EnvSettings(
        max_len=15, cache_bytes=64 * 2**20, reward="pool", refuse_degenerate=False,
        pool=PoolSettings(min_ic_t=3.0, model="conditional", ridge_alpha=1.0)))
    """the episodes and their reward (--reward, --max-len, --pool-capacity, --correlation-penalty, ...); the
    main job rewards what an alpha adds to the run's pool (reward pool; one pool shared by the in-process
    environments) and admits only alphas whose train IC is significant (--pool-min-ic-t 3: without it the
    pool fills with alphas that fit noise); the pool's weights follow the news (--pool-model conditional,
    penalised by --pool-ridge-alpha 1: ridge on data without news), writes at most 15 tokens (the
    pretrained actor's corpus length), caches 64 MiB per environment and keeps the type rules' masks
    (--no-refuse-degenerate: on seeds 0-5 masks refusing degenerate calls gave the same valid Sharpe,
    paired +0.00, so the measured default stays; docs/pool.md, "Session 12")"""
    fine_tune: FineTuneSettings = field(
        default_factory=lambda: FineTuneSettings(n_steps=64, kl_coef=0.02, ent_coef=0.02))
    """PPO fine-tuning (--learning-rate, --n-steps, ...); 8 environments x 64 steps = 512-step rollouts; the
    main job keeps the policy near the pretrained actor (--kl-coef 0.02) and exploring (--ent-coef 0.02):
    on seeds 0-5 the only setting measured whose every run keeps writing new alphas over its last quarter
    (docs/pool.md, "Session 10")"""
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    """the policy's alpha encoder and its fusion with the document (--alpha-encoder, --fusion,
    --alpha-checkpoint); recorded in the saved model, and a resume with other options fails"""


def run_ppo_job(args: PPOJobSettings, root: str | Path = ".") -> dict[str, Any]:
    """Run the main job; returns the summary written to ``runs/<run>/summary.json``.

    Args:
        args: the job's settings.
        root: folder that relative ``runs_dir`` paths start from.
    """
    resume_model: Path | None = None
    if args.resume:  # checked first: a wrong path fails before the heavy imports
        resume_model, run_dir = _resume_paths(Path(args.resume))
    import torch
    from rich.console import Console

    from agents.builders import build_agent, load_agent
    from agents.callbacks import (
        AlphaMetricsCallback,
        EvaluationBudgetCallback,
        GradualUnfreezeCallback,
        PoolMetricsCallback,
        TimeLimitCallback,
    )
    from agents.runs import cache_stats_of, ensure_pretrained, env_label, make_env_fn, make_vec, run_name
    from alpha_env.ace import ACE
    from alpha_env.ace.pools import new_pool
    from alpha_env.data import resolve_panel
    from alpha_env.env.rewards import POOL_REWARD
    from alpha_env.grammar import Codebook
    from alpha_env.search.tracking import AlphaTracker
    from encoders import load_checkpoint

    # logs and CI capture output without a terminal: keep expressions readable there
    console = Console() if sys.stdout.isatty() else Console(width=160)
    started = time.perf_counter()

    # ---- seeding: the one place. The environments are seeded by their first reset (make_vec_env), the
    # algorithm (sampling, minibatches) and a random actor's weights by `seed`; torch runs single-threaded.
    torch.set_num_threads(args.threads)
    seed = int(args.seed)

    # ---- run folder
    previous: dict[str, Any] = {}
    if resume_model is not None:
        name = run_dir.name
        previous = _previous_run(run_dir)
    else:
        label = env_label(args.data)
        label = label.replace("AlphaStack", "AlphaStackNews") if args.doc_mode else label
        name = run_name(label, args.exp_name, seed)
        runs = Path(args.runs_dir)
        run_dir = (runs if runs.is_absolute() else Path(root) / runs) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    store_path = Path(args.store) if args.store else run_dir / "alphas.db"

    # ---- market, backtest settings, documents
    panel = resolve_panel(args.data)
    settings = args.simulation
    codebook = Codebook.default()
    embeddings = _document_table(args, panel, console, root) if args.doc_mode else None
    report_ace = ACE(panel, settings)  # metrics for reports only (valid/test never reach the reward)
    if args.env.pool.model == "conditional" and (panel.documents is None or len(panel.documents) == 0):
        # the default news-conditioned pool on data without news: the same penalised fit without a state
        args = dataclasses.replace(args, env=dataclasses.replace(
            args.env, pool=dataclasses.replace(args.env.pool, model="ridge")))
        console.print("note: this dataset has no news, so the pool's weights cannot follow them: pool model "
                      "ridge (--pool-model to choose another)")
    pool = None  # reward "pool": one pool shared by the in-process environments (subproc: one per worker)
    if args.env.reward == POOL_REWARD and args.vec_env == "dummy" and not args.ray:
        pool = new_pool(report_ace, args.env.pool)
        for member in (previous.get("summary", {}).get("pool") or {}).get("members", []):  # --resume
            pool.add(member["expression"], report_ace.evaluator.evaluate(member["expression"]))
    env_fn = make_env_fn(panel, store=str(store_path), settings=settings, env_settings=args.env,
                         document_embeddings=embeddings, alpha_pool=pool)
    text_encoder = _doc_finetune_encoder(args, panel, resume_model)  # --finetune-doc-encoder, else None
    if text_encoder is not None:
        from encoders.doc_finetune import with_document_key

        env_fn = with_document_key(env_fn)
    vec_env = make_vec(env_fn, args.n_envs, seed, "ray" if args.ray else args.vec_env, ray_address=args.ray,
                       workers=args.workers)

    # ---- the agent
    fine_tune = args.fine_tune
    if resume_model is not None:  # the saved model holds the actor: no stage-1 checkpoint needed
        # the algorithm the run was saved with; its alpha encoder and fusion must be the ones asked for
        model = load_agent(None, resume_model, vec_env, encoder=args.encoder)
        console.print(f"Resuming {resume_model} at timestep {model.num_timesteps}")
        checkpoint = Path(str(model.policy.init_checkpoint or args.checkpoint))
        decoder_config = model.policy.decoder_config
    else:
        checkpoint = ensure_pretrained(args.checkpoint, codebook, ace=report_ace, quick=args.quick_pretrain,
                                       console=console)
        if args.hindsight and args.doc_mode and args.actor_init == "pretrained":
            from agents.hindsight import HindsightSettings, run_hindsight_stage

            staged = run_dir / "hindsight_actor.pt"
            console.print("Hindsight document stage: simulating candidates on the train split ...")
            info = run_hindsight_stage(
                checkpoint, staged, report_ace, embeddings, horizon=args.env.horizon,
                doc_days=args.env.doc_days,
                settings=HindsightSettings(corpus_size=args.hindsight_corpus, epochs=args.hindsight_epochs,
                                           corpus_max_len=args.env.max_len, seed=seed),
                text_encoder=text_encoder)
            console.print(f"  {info['candidates']} candidates on {info['decision_dates']} dates, "
                          f"{info['distinct_first_targets']} distinct first targets, "
                          f"{info['seconds']:.0f} s; actor written to {staged}")
            checkpoint = staged
        decoder_config = load_checkpoint(checkpoint, codebook, kind="alpha_decoder").model.config.to_dict()
        model = build_agent(args.algo, vec_env, decoder_config=decoder_config,
                            init_checkpoint=checkpoint if args.actor_init == "pretrained" else None,
                            settings=fine_tune, seed=seed, encoder=args.encoder)
        if text_encoder is not None:
            model.policy.attach_text_encoder(text_encoder)
    from stable_baselines3.common.logger import configure

    model.set_logger(configure(str(run_dir), ["tensorboard", "csv"]))

    # ---- callbacks: alpha metrics in TensorBoard, checkpoints, unfreezing, the time guard
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback

    hparams = {**_flat_settings(args),
               "decoder": f"d{decoder_config['d_model']}x{decoder_config['num_layers']}"}
    # with the pool reward an episode pays a gain to the pool: the top table ranks alphas by train Sharpe
    tracker = AlphaTracker(report_ace, top_k=args.show_top,
                           rank_by="sharpe" if args.env.reward == POOL_REWARD else None)
    if "tracker" in previous:  # --resume: counters, best-so-far and the top table carry on
        tracker.restore(previous["tracker"])
    time_limit = TimeLimitCallback(args.time_limit_minutes * 60.0)
    curve = PoolCurve(tracker.n_evaluations)
    callbacks = [
        AlphaMetricsCallback(tracker, hparams=hparams, cache_stats=cache_stats_of(vec_env),
                             top_n=args.show_top, on_episode=curve.on_episode,
                             hparam_metrics=("pool/sharpe_valid", "pool/objective_train") if pool else ()),
        CheckpointCallback(max(args.save_every // args.n_envs, 1), str(run_dir / "checkpoints"),
                           name_prefix="model"),
        time_limit,
    ]
    if args.max_evaluations is not None:
        callbacks.append(EvaluationBudgetCallback(tracker, args.max_evaluations))
    if pool is not None:
        callbacks.append(PoolMetricsCallback(pool, report_ace))
    if fine_tune.unfreeze_every > 0:
        callbacks.append(GradualUnfreezeCallback(every_n_rollouts=fine_tune.unfreeze_every))

    # ---- train
    console.print(f"[bold]{name}[/bold]: {args.algo} · actor {args.actor_init} · {args.n_envs} envs · "
                  f"{args.total_timesteps} timesteps · logs in {run_dir}")
    train_start = time.perf_counter()
    remaining = args.total_timesteps - (model.num_timesteps if resume_model is not None else 0)
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=CallbackList(callbacks),
                    progress_bar=args.progress, reset_num_timesteps=resume_model is None)
    else:
        console.print(f"The run already holds {model.num_timesteps} of its {args.total_timesteps} timesteps: "
                      "nothing to train (raise --total-timesteps to continue it).")
    train_seconds = time.perf_counter() - train_start + previous.get("summary", {}).get("train_seconds", 0.0)
    model.save(run_dir / "model.zip")
    vec_env.close()
    (run_dir / "tracker.json").write_text(json.dumps(tracker.state()))

    # ---- report
    summary = _summary(args, tracker, report_ace, panel, run_dir, store_path, model.num_timesteps,
                       train_seconds, time.perf_counter() - started, time_limit.stopped, checkpoint, pool)
    summary["pool_curve"] = curve.points
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    _print_report(console, summary, args)
    return summary


# --------------------------------------------------------------------------- helpers
class PoolCurve:
    """The learning curve of a pool-reward run: ``[evaluations, pool objective]`` each time the objective
    of the pool an episode was offered to changes (the env's ``info["pool"]["objective"]``; the combined
    train IC by default), so 20,000 evaluations give a few hundred points. Episodes without a pool offer
    (invalid, degenerate, other rewards) count as evaluations and add no point.

    Args:
        start: evaluations already made (a resumed run).
    """

    def __init__(self, start: int = 0) -> None:
        self.evaluations = int(start)
        self.points: list[list[float]] = []

    def on_episode(self, reward: float, info: dict[str, Any]) -> None:
        """``AlphaMetricsCallback``'s per-episode hook."""
        self.evaluations += 1
        objective = (info.get("pool") or {}).get("objective")
        if objective is None or not np.isfinite(objective):
            return
        if not self.points or self.points[-1][1] != float(objective):
            self.points.append([self.evaluations, float(objective)])


def _previous_run(run_dir: Path) -> dict[str, Any]:
    """What a resumed run carries on: ``summary`` (its ``summary.json``) and ``tracker`` (the tracker state
    written at the end of every run), each only when the file exists."""
    out: dict[str, Any] = {}
    for key, name in (("summary", "summary.json"), ("tracker", "tracker.json")):
        path = run_dir / name
        if path.is_file():
            try:
                out[key] = json.loads(path.read_text())
            except ValueError as exc:
                from alpha_env.errors import SettingsError

                raise SettingsError(f"--resume {run_dir}: {name} is not valid JSON ({exc})") from None
    return out


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


def _doc_finetune_encoder(args: PPOJobSettings, panel: Any, resume_model: Path | None) -> Any:
    """The trainable document encoder of ``--finetune-doc-encoder`` (None without the option)."""
    if not args.finetune_doc_encoder:
        return None
    from alpha_env.errors import SettingsError
    from encoders.doc_finetune import TrainableTextEncoder

    if not args.doc_mode:
        raise SettingsError("--finetune-doc-encoder needs --doc-mode (episodes conditioned on the news)")
    if resume_model is not None:
        raise SettingsError("--finetune-doc-encoder cannot --resume a run yet: start a new run")
    return TrainableTextEncoder.for_panel(args.doc_finetune, panel, args.env.doc_days)


def _flat_settings(args: PPOJobSettings) -> dict[str, Any]:
    """Every leaf setting of the job by its option name (nested settings flattened), for hparams."""
    from alpha_env.options import option_fields

    out: dict[str, Any] = {}
    for opt in option_fields(PPOJobSettings):
        value: Any = args
        for name in opt.path:
            value = getattr(value, name)
        out[opt.name] = value
    return out


def _document_table(args: PPOJobSettings, panel: Any, console: Any, root: str | Path) -> Any:
    """The date → embedding table of document mode (optionally shuffled across dates)."""
    import pandas as pd

    from alpha_env.env.embeddings import EmbeddingTable
    from alpha_env.errors import SettingsError

    if args.embeddings:
        table = EmbeddingTable.from_frame(pd.read_parquet(args.embeddings))
    else:
        if panel.documents is None or len(panel.documents) == 0:
            raise SettingsError("--doc-mode needs documents: this market has none; pass --embeddings PATH")
        store = panel.documents if panel.documents.is_aligned_to(panel.dates) else \
            panel.documents.aligned(panel.dates)
        if args.doc_encoder == "hashed":
            from alpha_env.env.embeddings import embed_document_store

            table = embed_document_store(store, dim=DOCUMENT_DIM)
        else:
            from encoders import DocumentEncoder

            keep = np.flatnonzero(~np.isnat(np.asarray(store.available_dates, dtype="datetime64[D]")))
            texts = [store.text(int(k)) for k in keep]
            console.print(f"Encoding {len(texts)} news texts with the bundled MiniLM (cached on disk)...")
            vectors = DocumentEncoder(cache_dir=str(Path(root) / "runs" / "cache")).encode(texts)
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


def _summary(args: PPOJobSettings, tracker: Any, ace: Any, panel: Any, run_dir: Path, store_path: Path,
             timesteps: int, train_seconds: float, total_seconds: float, stopped: bool,
             checkpoint: Path, pool: Any) -> dict[str, Any]:
    splits = ("train", "valid", "test") if args.final else ("train", "valid")
    top = []
    for rec in tracker.top(args.show_top):
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
        "unique_rate_last_quarter": _unique_rate_tail(tracker.history.expressions, 0.25),
        "best_so_far": tracker.history.best_so_far().tolist(),
    }
    if pool is not None:
        from alpha_env.pool import pool_metrics

        summary["pool"] = pool_metrics(pool, ace, splits=splits)
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
        if pool is not None and len(pool):
            ground.update(_pool_vs_planted(pool, ace, rows, summary["pool"]))
        summary["ground_truth"] = ground
    return summary


#: A pool member "matches" a planted signal's family when their signals' mean daily cross-sectional
#: correlation on the train split is at least this in absolute value.
FAMILY_CORRELATION = 0.5


def _pool_vs_planted(pool: Any, ace: Any, planted: list[dict[str, Any]], report: dict[str, Any]) -> dict:
    """How the pool relates to the synthetic market's planted signals (ground truth)."""
    from alpha_env.pool.factor_metrics import daily_ic

    train = ace.panel.splits["train"]
    families: dict[str, list[str]] = {}
    for p in planted:
        ref = ace.evaluator.evaluate(p["expression"])
        for m in pool.members:
            corr = float(np.nanmean(daily_ic(m.signal[train], ref[train])))
            if abs(corr) >= FAMILY_CORRELATION:
                families.setdefault(p["name"], []).append(m.expr)
    matched = {e for members in families.values() for e in members}
    best_valid = max(r["metrics"]["valid"]["sharpe"] for r in planted)
    pool_valid = report["metrics"].get("valid", {}).get("sharpe@0", float("nan"))
    return {"pool_members_matching_planted": len(matched), "pool_planted_families": sorted(families),
            "pool_valid_sharpe": pool_valid, "pool_beats_best_planted_valid": bool(pool_valid > best_valid)}


def _unique_rate_tail(expressions: list[str], share: float) -> float:
    """Share of the last ``share`` of episodes whose expression had not been written before in the run."""
    if not expressions:
        return float("nan")
    k = max(1, int(len(expressions) * share))
    seen = set(expressions[:-k])
    new = 0
    for e in expressions[-k:]:
        new += e not in seen
        seen.add(e)
    return new / k


def _tail_mean(values: list[float], share: float) -> float:
    """Mean of the last ``share`` of ``values`` (NaN when empty): the learned policy's typical reward."""
    if not values:
        return float("nan")
    k = max(1, int(len(values) * share))
    return float(np.mean(values[-k:]))


def _first_reaching(best: Any, level: float) -> int | None:
    hits = np.flatnonzero(np.nan_to_num(best, nan=-np.inf) >= level)
    return int(hits[0]) + 1 if hits.size else None


def _print_report(console: Any, summary: dict[str, Any], args: PPOJobSettings) -> None:
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
    _print_pool(console, summary.get("pool"), splits)
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
        if "pool_members_matching_planted" in ground:
            console.print(
                f"Pool: {ground['pool_members_matching_planted']} members match planted families "
                f"({', '.join(ground['pool_planted_families']) or 'none'}); combined valid Sharpe "
                f"{ground['pool_valid_sharpe']:.2f} vs best planted single "
                f"{ground['best_planted_valid_sharpe']:.2f}.")
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


def _print_pool(console: Any, pool: dict[str, Any] | None, splits: tuple[str, ...]) -> None:
    """The run's pool: members and weights, then the combined alpha per split (IC, rank IC, Sharpe at
    each cost). Train figures are in-sample for the weights."""
    if not pool or not pool["size"]:
        return
    from rich.table import Table

    members = Table(title=f"Alpha pool ({pool['size']} members, {pool['model']}, train objective "
                          f"{pool['objective']:.4f})")
    members.add_column("#", justify="right")
    members.add_column("expression", overflow="fold")
    members.add_column("weight", justify="right")
    members.add_column("train IC", justify="right")
    for i, m in enumerate(sorted(pool["members"], key=lambda m: -abs(m["weight"])), start=1):
        members.add_row(str(i), m["expression"], f"{m['weight']:+.4f}", f"{m['ic']:+.4f}")
    console.print(members)
    combined = Table(title="Combined pool alpha (weights fitted on train: train is in-sample)")
    combined.add_column("split")
    keys = [k for k in next(iter(pool["metrics"].values()))]
    for k in keys:
        combined.add_column(k, justify="right")
    for split in splits:
        row = pool["metrics"].get(split, {})
        combined.add_row(split, *(f"{row.get(k, float('nan')):.3f}" for k in keys))
    console.print(combined)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
