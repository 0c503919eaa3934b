"""Does the agent read the news? Matching documents vs shuffled documents, same agent, same budget.

Document-conditioned mode (``docs/env.md``): each episode draws a decision date ``t`` in the train split,
shows the mean embedding of the news of the ``doc_days`` trading days before ``t`` and pays the metric
(Sharpe by default) of the ``horizon`` days after ``t``. On the synthetic market the news wording reveals
the hidden regime, and the regime decides which planted signal pays. This script trains the *same* PPO
agent (pretrained decoder actor, ``train_ppo.py``'s defaults) twice per seed:

* ``matching``: the date → embedding table of the market's own news (hashed bag of words, 384 values);
* ``shuffled``: the same table with its vectors permuted across rows (seeded), so the vector shown no
  longer matches the episode's date (the control: same inputs' distribution, no information).

Both runs of a seed use the same environment seeds and stop at exactly the same number of finished
episodes. Each trained agent is then evaluated on **held-out decision dates** (the valid split by default,
never seen in training): for every date, ``eval_samples`` expressions are sampled from the policy (the
same sampling seeds for both agents) and rewarded exactly as in training (window metric, −1 when
degenerate). Reported: mean held-out reward per condition and per regime of the decision date, the paired
difference matching − shuffled per seed and its standard error over seeds, and reference levels computed
from the planted signals: the best single planted expression (or its negation) and the regime oracle
(the best one per true regime, chosen on train dates).

Markets (``--market``):

* ``default``: the embedded synthetic market, unchanged (``synthetic_market(seed=0)``);
* ``contrast``: the same generator with planted signals whose sign flips with the regime (5-day reversal
  in calm regimes, 5-day momentum in stressed ones, plus the regime-free intraday signal), so that no
  single alpha earns in both regimes and the news are worth something.

Usage::

    python experiments/doc_conditioning.py                       # contrast market, 3 seeds (~10 min)
    python experiments/doc_conditioning.py --market default --seeds 0,1
    python experiments/doc_conditioning.py --quick               # seconds: a smoke test
    python experiments/doc_conditioning.py --publish --name contrast_hindsight   # docs/doc_conditioning/

Writes ``runs/doc_conditioning/<name>.json`` (``--name``, default the market: every figure, every
held-out episode, and the provenance block: command, seeds, commit, packages, machine, wall time) and
``<name>.md`` (the table); only ``--publish`` writes into ``docs/doc_conditioning/``, and only from a clean
tree. Each training run stops on its evaluation budget; ``--time-limit-minutes`` only catches a hung run,
and a run it stops is marked ``stopped_by_time_limit`` and the file ``"incomplete": true``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    DEFAULT_CHECKPOINT,
    ROOT,
    ensure_pretrained,
    make_env_fn,
    make_vec,
    parse_args,
    run_cli,
)

from alpha_env.provenance import (
    check_publish,
    git_state,
    incomplete_marker,
    output_folder,
    provenance,
    write_figure_json,
)

__all__ = ["Args", "PPORunSettings", "CONDITIONS", "contrast_planted", "build_market", "document_table",
           "main", "cli"]

CONDITIONS = ("matching", "shuffled")
"""The two runs of each seed: the news as published, and the news shuffled across dates."""

DOCUMENT_DIM = 384
"""Width of the hashed news vectors (the pretrained actor's ``doc_dim``)."""


@dataclass
class PPORunSettings:
    """The PPO settings of one training run, shared by this script and ``ablate_fusion.py``."""

    n_envs: int = 8
    """parallel training environments"""
    max_len: int = 15
    """most tokens per expression"""
    learning_rate: float = 3e-4
    """peak learning rate"""
    layer_lr_decay: float = 1 / 2.6
    """discriminative learning rates of the decoder (train_ppo.py's default)"""
    ent_coef: float = 0.01
    """entropy bonus"""
    n_steps: int = 64
    """steps per environment per rollout"""
    batch_size: int = 128
    """PPO minibatch size"""


@dataclass
class Args(PPORunSettings):
    """Arguments of doc_conditioning.py."""

    market: str = dataclasses.field(default="contrast", metadata={"choices": ["contrast", "default"]})
    """contrast: planted signals whose sign flips with the regime; default: the embedded synthetic market"""
    market_seed: int = 0
    """seed of the synthetic market"""
    seeds: str = "0,1,2"
    """comma-separated agent seeds (each trains one matching and one shuffled agent)"""
    evaluations: int = 3000
    """finished episodes (backtests) per training run, equal for both conditions"""
    horizon: int = 20
    """trading days after the decision date whose metric is the reward"""
    doc_days: int = 5
    """trading days of news shown before the decision date"""
    reward: str = dataclasses.field(default="sharpe", metadata={"choices": ["sharpe", "ic", "rank_ic"]})
    """window metric paid at the end of an episode"""
    eval_split: str = dataclasses.field(default="valid", metadata={"choices": ["valid", "train"]})
    """decision dates of the evaluation: the valid split (held out) or the train split (seen)"""
    eval_samples: int = 2
    """expressions sampled from the policy per evaluation date"""
    eval_stride: int = 1
    """use every n-th admissible evaluation date"""
    checkpoint: str = str(DEFAULT_CHECKPOINT)
    """stage-1 actor checkpoint (pretrained first when missing)"""
    quick_pretrain: bool = False
    """if the checkpoint is missing, pretrain a tiny decoder (tests) instead of the default one"""
    time_limit_minutes: float = 60.0
    """wall-clock guard per training run, against a hung run (the evaluation budget ends a run); a guard
    that fires marks the results incomplete"""
    threads: int = 1
    """torch intra-op threads"""
    hindsight: bool = True
    """before PPO, fine-tune the actor on (news, expressions that paid after similar news) pairs from the
    train split (``agents.hindsight``); each condition with its own documents"""
    hindsight_corpus: int = 300
    """candidate expressions of the hindsight stage (each also negated)"""
    hindsight_neighbours: int = 40
    """train dates averaged per date in the hindsight payoff estimate"""
    hindsight_epochs: int = 40
    """teacher-forcing epochs of the hindsight stage"""
    hindsight_lr: float = 2e-3
    """peak learning rate of the hindsight stage"""
    out: str | None = None
    """output folder (JSON + markdown; default: runs/doc_conditioning, with --publish
    docs/doc_conditioning)"""
    name: str | None = None
    """file name stem of the JSON and markdown (default: the market, plus _quick with --quick)"""
    publish: bool = False
    """write the published figures (docs/doc_conditioning); refused from a tree with uncommitted changes"""
    allow_dirty: bool = False
    """with --publish, accept uncommitted changes and mark the files dirty"""
    quick: bool = False
    """smoke test: 1 seed, 40 evaluations, a small market, few evaluation dates"""


# --------------------------------------------------------------------------- market and documents
def contrast_planted() -> tuple[Any, ...]:
    """Planted signals whose sign flips with the regime (the ``contrast`` market).

    ``reversal`` is generated from ``-(close_t - close_{t-5})``; a negative strength in the stressed regime
    makes it a momentum effect there (the expression that pays is ``rank(delta(close, 5))``). The
    stressed strength is larger because stressed days are noisier (1.3x idiosyncratic volatility) and the
    generator has some mechanical short-term reversal; with ±0.04 the momentum side barely pays.
    """
    from alpha_env.data.synthetic import PLANTED, PlantedSignal

    intraday = next(p for p in PLANTED if p.name == "intraday")
    return (
        PlantedSignal("reversal", "rank(-delta(close, 5))", 0.04, ("calm",)),
        PlantedSignal("reversal", "rank(-delta(close, 5))", -0.08, ("stressed",)),
        intraday,
    )


def build_market(args: Args) -> Any:
    """The synthetic market of ``args.market`` (a small one with ``--quick``)."""
    from alpha_env.data import synthetic_market

    size = {"n_stocks": 30, "n_days": 400} if args.quick else {}
    if args.market == "contrast":
        return synthetic_market(seed=args.market_seed, planted=contrast_planted(), **size)
    return synthetic_market(seed=args.market_seed, **size)


def document_table(panel: Any, shuffle_seed: int | None) -> Any:
    """The hashed news table of ``panel`` (``shuffle_seed``: vectors permuted across rows)."""
    from alpha_env.env.embeddings import EmbeddingTable, embed_document_store

    store = panel.documents if panel.documents.is_aligned_to(panel.dates) else \
        panel.documents.aligned(panel.dates)
    table = embed_document_store(store, dim=DOCUMENT_DIM)
    if shuffle_seed is None:
        return table
    order = np.random.default_rng(shuffle_seed).permutation(len(table))
    return EmbeddingTable(table.dates, table.vectors[order])


def evaluation_panel(panel: Any, split: str) -> tuple[Any, np.ndarray]:
    """A panel whose train split reaches the end of ``split`` (so the environment accepts its dates as
    decision dates), and the decision indices inside ``split`` (set by the caller's windows)."""
    sl = panel.splits[split]
    dates = panel.dates
    if split == "train":
        return panel, np.arange(sl.start or 0, sl.stop)
    end = sl.stop - 1
    spec = {"train": [str(dates[0]), str(dates[end])]}
    if end + 1 < len(dates):
        spec["test"] = [str(dates[end + 1]), str(dates[-1])]
    return panel.with_splits(spec), np.arange(sl.start, sl.stop)


# --------------------------------------------------------------------------- training and evaluation
def train_agent(args: PPORunSettings, panel: Any, table: Any, seed: int, checkpoint: Path, env_kwargs: dict,
                encoder: Any = None) -> Any:
    """Train one agent until ``args.evaluations`` episodes finished; returns ``(model, tracker, secs,
    stopped)``, ``stopped`` telling whether the wall-clock guard ended the run before its budget.

    ``args`` is any :class:`PPORunSettings` with ``evaluations`` and ``time_limit_minutes`` (this script's
    :class:`Args` or ``ablate_fusion.py``'s);
    ``encoder`` is the policy's alpha-encoder settings (``None``: no alpha encoder)."""
    from stable_baselines3.common.callbacks import CallbackList

    from agents import (
        AlphaMetricsCallback,
        EvaluationBudgetCallback,
        FineTuneSettings,
        TimeLimitCallback,
        build_agent,
    )
    from alpha_env.ace import ACE
    from alpha_env.grammar import Codebook
    from alpha_env.search import AlphaTracker
    from encoders import load_checkpoint

    env_fn = make_env_fn(panel, max_len=args.max_len, store=None, document_embeddings=table, **env_kwargs)
    vec_env = make_vec(env_fn, args.n_envs, seed, "dummy")
    config = load_checkpoint(checkpoint, Codebook.default(), kind="alpha_decoder").model.config.to_dict()
    settings = FineTuneSettings(learning_rate=args.learning_rate, layer_lr_decay=args.layer_lr_decay,
                                ent_coef=args.ent_coef, n_steps=args.n_steps, batch_size=args.batch_size)
    model = build_agent("ppo", vec_env, decoder_config=config, init_checkpoint=checkpoint, settings=settings,
                        seed=seed, encoder=encoder)
    tracker = AlphaTracker(ACE(panel), top_k=5)
    guard = TimeLimitCallback(args.time_limit_minutes * 60.0)
    callbacks = CallbackList([AlphaMetricsCallback(tracker),
                              EvaluationBudgetCallback(tracker, args.evaluations), guard])
    # enough timesteps for the budget at the longest expressions; the budget callback stops first
    started = time.perf_counter()
    model.learn(total_timesteps=args.evaluations * (args.max_len + 1) + args.n_envs * args.n_steps,
                callback=callbacks, progress_bar=False)
    seconds = time.perf_counter() - started
    vec_env.close()
    return model, tracker, seconds, bool(guard.stopped)


def hindsight_checkpoint(args: Args, panel: Any, table: Any, seed: int, checkpoint: Path, folder: Path,
                         name: str) -> tuple[Path, dict[str, Any]]:
    """Run the hindsight document stage (``agents.hindsight``) from ``checkpoint`` with ``table``'s news;
    returns the new checkpoint (``folder/name.pt``) and a summary of the targets."""
    from agents.hindsight import HindsightSettings, run_hindsight_stage
    from alpha_env.ace import ACE

    settings = HindsightSettings(corpus_size=args.hindsight_corpus, neighbours=args.hindsight_neighbours,
                                 epochs=args.hindsight_epochs, lr=args.hindsight_lr,
                                 corpus_max_len=args.max_len, seed=seed)
    if args.quick:
        settings = HindsightSettings.quick(seed=seed, corpus_max_len=args.max_len)
    path = folder / f"{name}.pt"
    summary = run_hindsight_stage(checkpoint, path, ACE(panel), table, horizon=args.horizon,
                                  doc_days=args.doc_days, settings=settings)
    return path, summary


def evaluate_policy(policy: Any, envs: list[Any], dates: np.ndarray, samples: int, seed: int) -> list[dict]:
    """Sample ``samples`` expressions per decision date from ``policy`` and reward them as in training.

    The environments in ``envs`` run in lockstep (one batched policy forward per token); token sampling
    uses ``np.random.default_rng(seed)``, so two agents evaluated with the same seed face the same dates
    and the same random numbers.
    """
    import torch

    rng = np.random.default_rng(seed)
    jobs = [(str(d), s) for d in dates for s in range(samples)]
    out: list[dict] = []
    for start in range(0, len(jobs), len(envs)):
        batch = jobs[start : start + len(envs)]
        obs_list = [env.reset(options={"decision_date": d})[0] for env, (d, _) in zip(envs, batch)]
        done = [False] * len(batch)
        results: list[dict | None] = [None] * len(batch)
        while not all(done):
            live = [k for k in range(len(batch)) if not done[k]]
            stacked = {key: np.stack([obs_list[k][key] for k in live]) for key in obs_list[0]}
            with torch.no_grad():
                tensors, _ = policy.obs_to_tensor(stacked)
                probs = policy.action_probabilities(tensors).cpu().numpy().astype(np.float64)
            for row, k in enumerate(live):
                p = probs[row] / probs[row].sum()
                action = int(rng.choice(p.shape[0], p=p))
                obs, reward, terminated, truncated, info = envs[k].step(action)
                obs_list[k] = obs
                if terminated or truncated:
                    done[k] = True
                    results[k] = {"date": batch[k][0], "sample": batch[k][1], "reward": float(reward),
                                  "reason": info.get("reason"), "expression": info.get("expression")}
        out.extend(r for r in results if r is not None)
    return out


def _heldout(args: Args, checkpoint: Path, panel: Any, table: Any, seed: int, env_kwargs: dict,
             envs: list[Any], dates: np.ndarray, regime_of: dict[str, int]) -> dict[str, Any]:
    """Held-out summary of the actor in ``checkpoint`` as PPO would start from it (no training)."""
    from agents import FineTuneSettings, build_agent
    from alpha_env.grammar import Codebook
    from encoders import load_checkpoint

    env_fn = make_env_fn(panel, max_len=args.max_len, store=None, document_embeddings=table, **env_kwargs)
    vec_env = make_vec(env_fn, args.n_envs, seed, "dummy")
    config = load_checkpoint(checkpoint, Codebook.default(), kind="alpha_decoder").model.config.to_dict()
    settings = FineTuneSettings(n_steps=args.n_steps, batch_size=args.batch_size)
    model = build_agent("ppo", vec_env, decoder_config=config, init_checkpoint=checkpoint, settings=settings,
                        seed=seed)
    episodes = evaluate_policy(model.policy, envs, dates, args.eval_samples, 20_000 + seed)
    summary = summarise(episodes, regime_of)
    summary["doc_sensitivity"] = document_sensitivity(model.policy, envs[0], dates, regime_of)
    vec_env.close()
    return summary


def document_sensitivity(policy: Any, env: Any, dates: np.ndarray, regime_of: dict[str, int]) -> float:
    """KL divergence (nats) between the policy's first-token distributions averaged over calm decision
    dates and over stressed ones (its own document vectors): how much the news move the actor at all."""
    import torch

    rows, regimes = [], []
    for d in dates:
        obs = env.reset(options={"decision_date": str(d)})[0]
        rows.append(obs)
        regimes.append(regime_of[str(d)])
    stacked = {key: np.stack([o[key] for o in rows]) for key in rows[0]}
    with torch.no_grad():
        tensors, _ = policy.obs_to_tensor(stacked)
        probs = policy.action_probabilities(tensors).cpu().numpy().astype(np.float64)
    reg = np.array(regimes)
    if not ((reg == 0).any() and (reg == 1).any()):
        return float("nan")
    calm, stressed = probs[reg == 0].mean(0), probs[reg == 1].mean(0)
    keep = calm > 0
    return float(np.sum(calm[keep] * (np.log(calm[keep]) - np.log(np.maximum(stressed[keep], 1e-300)))))


def reference_levels(panel: Any, eval_panel: Any, dates: np.ndarray, train_dates: np.ndarray, args: Args,
                     regime: np.ndarray) -> dict[str, Any]:
    """Held-out reward of the planted expressions (and negations): best single one, and the regime oracle
    (per true regime of the decision date, the expression best on train dates of that regime)."""
    from alpha_env.ace import ACE
    from alpha_env.backtest import window_metrics
    from alpha_env.env.rewards import window_degenerate_reason

    planted = sorted({p["expression"] for p in panel.metadata["planted"]})
    candidates = planted + [f"-1 * {e}" for e in planted]
    ace = ACE(eval_panel)

    def window_rewards(idx: np.ndarray, backtest: Any) -> np.ndarray:
        vals = []
        for i in idx:
            m = window_metrics(backtest, slice(i + 1, i + 1 + args.horizon))
            bad = window_degenerate_reason(m, args.reward, "the window")
            vals.append(-1.0 if bad else float(m[args.reward]))
        return np.array(vals)

    train_r, eval_r = {}, {}
    for expr in candidates:
        backtest = ace.simulate(expr, save=False).backtest
        train_r[expr], eval_r[expr] = window_rewards(train_dates, backtest), window_rewards(dates, backtest)
    best_single = max(candidates, key=lambda e: train_r[e].mean())
    per_regime = {}
    for k in (0, 1):
        sel = regime[train_dates] == k
        per_regime[k] = max(candidates, key=lambda e: train_r[e][sel].mean() if sel.any() else -np.inf)
    oracle = np.where(regime[dates] == 0, eval_r[per_regime[0]], eval_r[per_regime[1]])
    return {
        "best_single": best_single, "best_single_reward": float(eval_r[best_single].mean()),
        "oracle_choice": {"calm": per_regime[0], "stressed": per_regime[1]},
        "oracle_reward": float(oracle.mean()),
        "per_expression": {e: float(eval_r[e].mean()) for e in candidates},
    }


def summarise(episodes: list[dict], regime_of: dict[str, int]) -> dict[str, float]:
    """Mean reward overall and per regime of the decision date, valid share, distinct expressions."""
    r = np.array([e["reward"] for e in episodes])
    reg = np.array([regime_of[e["date"]] for e in episodes])
    return {
        "mean_reward": float(r.mean()), "se": float(r.std(ddof=1) / math.sqrt(len(r))) if len(r) > 1 else 0.0,
        "calm": float(r[reg == 0].mean()) if (reg == 0).any() else float("nan"),
        "stressed": float(r[reg == 1].mean()) if (reg == 1).any() else float("nan"),
        "valid_share": float(np.mean([e["reason"] == "complete" for e in episodes])),
        "distinct": len({e["expression"] for e in episodes}),
        "n": len(episodes),
    }


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns the report written to ``<out>/<market>.json``."""
    args = parse_args(Args, argv)
    from alpha_env.errors import SettingsError

    git = git_state()  # the code that runs: read now
    out = output_folder(args.out, args.publish, "docs/doc_conditioning", "doc_conditioning")
    out = out if out.is_absolute() else ROOT / out
    name = args.name or args.market + ("_quick" if args.quick else "")
    check_publish(out / f"{name}.json", git, args.publish, args.allow_dirty)  # fail before the work

    if args.quick:
        args.seeds, args.evaluations, args.eval_samples, args.eval_stride = "0", 40, 1, 10
        args.n_envs, args.n_steps, args.batch_size = 4, 16, 32
    try:
        seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
    except ValueError:
        raise SettingsError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    if not seeds:
        raise SettingsError("--seeds is empty")
    if args.evaluations < 1 or args.eval_samples < 1 or args.eval_stride < 1:
        raise SettingsError("--evaluations, --eval-samples and --eval-stride must be >= 1")

    import torch
    from rich.console import Console

    from alpha_env.env.alpha_stack_env import AlphaStackEnv
    from alpha_env.grammar import Codebook

    torch.set_num_threads(args.threads)
    console = Console()
    started = time.perf_counter()
    panel = build_market(args)
    regime = np.asarray(panel.metadata["regime_path"], dtype=np.int64)
    checkpoint = ensure_pretrained(args.checkpoint, Codebook.default(), quick=args.quick_pretrain,
                                   console=console)
    train_sl = panel.splits["train"]
    # the same agent vocabulary in training and evaluation (the evaluation panel's train split is longer)
    env_kwargs = {"horizon": args.horizon, "doc_days": args.doc_days, "reward": args.reward,
                  "cache_bytes": 32 * 2**20, "max_window": train_sl.stop - (train_sl.start or 0) - 1,
                  "refuse_degenerate": False}  # the type rules' masks, as the main job and the published runs
    eval_panel, split_idx = evaluation_panel(panel, args.eval_split)
    warm = max(args.doc_days, 60)  # the environment's default warmup
    lo = max(int(split_idx[0]), (eval_panel.splits["train"].start or 0) + warm)
    hi = min(int(split_idx[-1]), eval_panel.splits["train"].stop - args.horizon - 1)
    eval_idx = np.arange(lo, hi + 1, args.eval_stride)
    if eval_idx.size == 0:
        raise SettingsError(f"the {args.eval_split} split has no room for horizon {args.horizon}")
    train_idx = np.arange((train_sl.start or 0) + warm, train_sl.stop - args.horizon - 1)
    dates = panel.dates
    regime_of = {str(dates[i]): int(regime[i]) for i in eval_idx}
    console.print(f"[bold]doc conditioning[/bold]: market {args.market}, seeds {seeds}, {args.evaluations} "
                  f"evaluations per run, reward {args.reward} over {args.horizon} days, "
                  f"{eval_idx.size} {args.eval_split} dates x {args.eval_samples} samples")
    reference = reference_levels(panel, eval_panel, eval_idx, train_idx, args, regime)

    runs: list[dict[str, Any]] = []
    for seed in seeds:
        for condition in CONDITIONS:
            table = document_table(panel, None if condition == "matching" else 10_000 + seed)
            envs = [AlphaStackEnv(eval_panel, max_len=args.max_len, document_embeddings=table, **env_kwargs)
                    for _ in range(min(8, eval_idx.size * args.eval_samples))]
            init, stage = checkpoint, None
            if args.hindsight:
                # stage checkpoints are working files: under runs/ even when the tables are published
                init, targets = hindsight_checkpoint(args, panel, table, seed, checkpoint,
                                                     ROOT / "runs" / "doc_conditioning" / "checkpoints",
                                                     f"hindsight_{args.market}_{condition}_{seed}")
                stage = {"targets": targets}
                before = _heldout(args, init, panel, table, seed, env_kwargs, envs, dates[eval_idx],
                                  regime_of)
                stage["heldout"] = before
                console.print(f"  seed {seed} {condition:9s}: hindsight stage {targets['seconds']:.0f} s, "
                              f"{targets['distinct_first_targets']} distinct first targets, held-out "
                              f"{before['mean_reward']:+.3f} (calm {before['calm']:+.2f}, stressed "
                              f"{before['stressed']:+.2f}) before PPO; KL {before['doc_sensitivity']:.1e}")
            model, tracker, seconds, stopped = train_agent(args, panel, table, seed, init, env_kwargs)
            rewards = tracker.history.rewards
            q = max(1, len(rewards) // 4)
            episodes = evaluate_policy(model.policy, envs, dates[eval_idx], args.eval_samples, 20_000 + seed)
            sensitivity = document_sensitivity(model.policy, envs[0], dates[eval_idx], regime_of)
            for env in envs:
                env.close()
            summary = summarise(episodes, regime_of)
            summary["doc_sensitivity"] = sensitivity
            top = tracker.top(1)
            run = {"seed": seed, "condition": condition, "train_seconds": seconds,
                   "evaluations": tracker.n_evaluations,
                   "stopped_by_time_limit": stopped,
                   "train_reward_first_quarter": float(np.mean(rewards[:q])),
                   "train_reward_last_quarter": float(np.mean(rewards[-q:])),
                   "top_expression": top[0].expression if top else None,
                   "hindsight": stage, "heldout": summary, "episodes": episodes}
            runs.append(run)
            console.print(f"  seed {seed} {condition:9s}: {tracker.n_evaluations} evaluations in "
                          f"{seconds:.0f} s; "
                          f"train reward first/last quarter {run['train_reward_first_quarter']:+.2f} / "
                          f"{run['train_reward_last_quarter']:+.2f}; held-out {summary['mean_reward']:+.3f} "
                          f"(calm {summary['calm']:+.2f}, stressed {summary['stressed']:+.2f}); "
                          f"first-token KL calm vs stressed {sensitivity:.1e}")

    report = _report(args, seeds, runs, reference, eval_idx, dates, time.perf_counter() - started)
    guards = incomplete_marker({"time_limit_minutes": any(r["stopped_by_time_limit"] for r in runs)})
    report = {**guards, **report}
    if guards["incomplete"]:
        report["markdown"] = ("**INCOMPLETE**: the wall-clock guard stopped a training run before its "
                              "evaluation budget.\n\n" + report["markdown"])
    report["provenance"] = provenance(argv, seeds, started, script="experiments/doc_conditioning.py", git=git)
    write_figure_json(out / f"{name}.json", report, report["provenance"], args.publish,
                      allow_dirty=args.allow_dirty, indent=2)
    (out / f"{name}.md").write_text(report["markdown"])
    console.print(report["markdown"])
    console.print(f"Written: {out / (name + '.json')} and {out / (name + '.md')}")
    return report


def _paired(runs: list[dict], seeds: list[int], key: str) -> dict[str, float]:
    """Matching − shuffled per seed for ``heldout[key]``: mean, standard error over seeds, t statistic."""
    by = {(r["seed"], r["condition"]): r["heldout"][key] for r in runs}
    diffs = np.array([by[(s, "matching")] - by[(s, "shuffled")] for s in seeds])
    se = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
    mean = float(diffs.mean())
    return {"diffs": diffs.tolist(), "mean": mean, "se": se,
            "t": mean / se if se and math.isfinite(se) and se > 0 else float("nan")}


def _date_paired(runs: list[dict], seeds: list[int]) -> dict[str, float]:
    """Matching − shuffled per (seed, date), averaged over samples; mean and naive SE over all pairs."""
    diffs = []
    for s in seeds:
        per = {}
        for cond in CONDITIONS:
            run = next(r for r in runs if r["seed"] == s and r["condition"] == cond)
            acc: dict[str, list[float]] = {}
            for e in run["episodes"]:
                acc.setdefault(e["date"], []).append(e["reward"])
            per[cond] = {d: float(np.mean(v)) for d, v in acc.items()}
        diffs += [per["matching"][d] - per["shuffled"][d] for d in per["matching"]]
    d = np.array(diffs)
    return {"n_pairs": int(d.size), "mean": float(d.mean()),
            "se": float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")}


def _report(args: Args, seeds: list[int], runs: list[dict], reference: dict, eval_idx: np.ndarray,
            dates: np.ndarray, seconds: float) -> dict[str, Any]:
    rows = []
    for cond in CONDITIONS:
        mine = [r for r in runs if r["condition"] == cond]
        h = {k: float(np.mean([r["heldout"][k] for r in mine])) for k in
             ("mean_reward", "calm", "stressed", "valid_share", "doc_sensitivity")}
        h["train_last_quarter"] = float(np.mean([r["train_reward_last_quarter"] for r in mine]))
        h["per_seed"] = [r["heldout"]["mean_reward"] for r in mine]
        rows.append((cond, h))
    paired = {k: _paired(runs, seeds, k) for k in ("mean_reward", "calm", "stressed")}
    by_date = _date_paired(runs, seeds)
    lines = [
        f"Market `{args.market}` (seed {args.market_seed}), reward `{args.reward}` over {args.horizon} days, "
        f"{args.evaluations} training evaluations per run, seeds {seeds}; held-out: {eval_idx.size} "
        f"{args.eval_split} decision dates ({dates[eval_idx[0]]} .. {dates[eval_idx[-1]]}) x "
        f"{args.eval_samples} sampled expressions. Wall time {seconds:.0f} s.",
        "",
        "| condition | held-out reward (mean over seeds) | calm dates | stressed dates | valid share | "
        "per seed | train reward, last quarter | KL first token calm vs stressed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cond, h in rows:
        lines.append(f"| {cond} | {h['mean_reward']:+.3f} | {h['calm']:+.3f} | {h['stressed']:+.3f} | "
                     f"{h['valid_share']:.0%} | {', '.join(f'{v:+.2f}' for v in h['per_seed'])} | "
                     f"{h['train_last_quarter']:+.3f} | {h['doc_sensitivity']:.1e} |")
    staged = [r for r in runs if r.get("hindsight")]
    stage_rows: list[tuple[str, dict[str, Any]]] = []
    if len(staged) == len(runs):  # the actor after the hindsight stage, before PPO
        for cond in CONDITIONS:
            mine = [r["hindsight"]["heldout"] for r in runs if r["condition"] == cond]
            h = {k: float(np.mean([m[k] for m in mine])) for k in
                 ("mean_reward", "calm", "stressed", "valid_share", "doc_sensitivity")}
            h["per_seed"] = [m["mean_reward"] for m in mine]
            stage_rows.append((cond, h))
            lines.append(f"| {cond}, hindsight stage only (before PPO) | {h['mean_reward']:+.3f} | "
                         f"{h['calm']:+.3f} | {h['stressed']:+.3f} | {h['valid_share']:.0%} | "
                         f"{', '.join(f'{v:+.2f}' for v in h['per_seed'])} | | {h['doc_sensitivity']:.1e} |")
    p = paired["mean_reward"]
    lines += [
        "",
        f"Paired difference matching − shuffled (per seed): {p['mean']:+.3f} ± {p['se']:.3f} (SE over "
        f"{len(seeds)} seeds, t = {p['t']:.2f}); per seed {', '.join(f'{v:+.2f}' for v in p['diffs'])}; "
        f"calm {paired['calm']['mean']:+.3f} ± {paired['calm']['se']:.3f}, stressed "
        f"{paired['stressed']['mean']:+.3f} ± {paired['stressed']['se']:.3f}.",
        f"Per (seed, date) pairs: {by_date['mean']:+.3f} ± {by_date['se']:.3f} (naive SE, "
        f"{by_date['n_pairs']} pairs; dates of one seed are correlated, so it understates the error).",
    ]
    if stage_rows:
        stage = {(r["seed"], r["condition"]): r["hindsight"]["heldout"]["mean_reward"] for r in runs}
        stage_diffs = np.array([stage[(sd, "matching")] - stage[(sd, "shuffled")] for sd in seeds])
        se = float(stage_diffs.std(ddof=1) / math.sqrt(len(seeds))) if len(seeds) > 1 else float("nan")
        lines.append(f"After the hindsight stage alone (before PPO), matching − shuffled: "
                     f"{stage_diffs.mean():+.3f} ± {se:.3f} (SE over {len(seeds)} seeds); per seed "
                     f"{', '.join(f'{v:+.2f}' for v in stage_diffs)}.")
    lines += [
        "",
        f"Reference on the same dates: best single planted expression `{reference['best_single']}` "
        f"{reference['best_single_reward']:+.3f}; regime oracle "
        f"(calm `{reference['oracle_choice']['calm']}`, "
        f"stressed `{reference['oracle_choice']['stressed']}`) {reference['oracle_reward']:+.3f}.",
    ]
    return {"args": dataclasses.asdict(args), "seeds": seeds, "seconds": seconds,
            "eval_dates": [str(dates[i]) for i in eval_idx], "reference": reference,
            "conditions": {cond: h for cond, h in rows}, "paired": paired, "paired_by_date": by_date,
            "runs": runs, "markdown": "\n".join(lines) + "\n"}


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry: user errors print one line and exit 2."""
    return run_cli(main, "doc_conditioning", argv)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
