"""The study's methods: each mines a pool on one panel and reports what it tried (``docs/study.md``).

:func:`run_method` dispatches a :class:`~alpha_env.search.study.StudyJob` to its runner; every runner
returns a :class:`MethodRun`: the distinct valid alphas it tried (canonical texts, in the order found),
the evaluations it spent, its final pool's members, its learning curve (``[evaluations, pool
objective]`` at each change of the objective) and whether a guard cut it short. The PPO methods run
``experiments/train_ppo.py`` and AlphaGen ``agents/alphagen.py`` in subprocesses (torch stays out of
this process); the pool settings reach them as ``--pool-*`` options (:func:`pool_options`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alpha_env.errors import AlphaEnvError, SettingsError
from alpha_env.pool.settings import PoolSettings

if TYPE_CHECKING:
    from alpha_env.search.study_setup import StudyJob, StudySettings

__all__ = ["MethodRun", "Curve", "alphagen_pool", "pool_options", "run_method", "run_gp", "run_random",
           "run_library", "run_ppo", "run_alphagen"]


@dataclass
class MethodRun:
    """What one search produced (see the module docstring).

    Attributes:
        tried: distinct valid alphas tried, canonical texts, in the order first found.
        evaluations: evaluations spent (the budget unit of the method).
        members: the final pool's member expressions.
        curve: ``[evaluations, pool objective]`` each time the objective changed.
        incomplete: a guard stopped the run before its budget.
        seconds: wall time of the search itself (s).
        pool_settings: the pool settings the run mined with.
        note: anything the report should say about the run.
    """

    tried: list[str]
    evaluations: int
    members: list[str]
    curve: list[list[float]]
    incomplete: bool
    seconds: float
    pool_settings: PoolSettings
    note: str = ""
    library: list[str] = field(default_factory=list)


class Curve:
    """Records ``[evaluations, objective]`` each time a pool's objective changes."""

    def __init__(self) -> None:
        self.evaluations = 0
        self.points: list[list[float]] = []

    def step(self, objective: float | None) -> None:
        """Count one evaluation; record the pool objective after it when it changed."""
        self.evaluations += 1
        if objective is None or not math.isfinite(objective):
            return
        if not self.points or self.points[-1][1] != float(objective):
            self.points.append([self.evaluations, float(objective)])


def alphagen_pool(pool: PoolSettings) -> PoolSettings:
    """The AlphaGen replication's pool: the study's capacity and horizon under AlphaGen's rule (mutual IC
    0.99, least-|weight| eviction), objective IC, no significance gate or holdout (AlphaGen has none)."""
    return dataclasses.replace(pool, rule="alphagen", model="lstsq", max_corr=None, min_ic_t=0.0,
                               min_half_ic_t=0.0, holdout=0.0, objective="ic")


def pool_options(pool: PoolSettings) -> list[str]:
    """``--pool-*`` command-line options that rebuild ``pool`` in train_ppo.py and agents/alphagen.py.

    Raises:
        SettingsError: a callable objective (it cannot cross a process boundary).
    """
    if callable(pool.objective):
        raise SettingsError("the study's pool objective must be 'ic' or 'sharpe' (a callable cannot be "
                            "passed to the PPO runs)")
    argv: list[str] = []
    for f in dataclasses.fields(pool):
        value = getattr(pool, f.name)
        argv += [f"--pool-{f.name.replace('_', '-')}", "none" if value is None else str(value)]
    return argv


def run_method(job: StudyJob, panel: Any, args: StudySettings) -> MethodRun:
    """Run ``job.method`` on ``panel`` with ``job.seed`` (see the module docstring)."""
    from alpha_env.ace import ACE
    from alpha_env.search.study_setup import LIBRARIES, PPO_METHODS, simulation_settings

    ace = ACE(panel, simulation_settings(panel, args))
    if job.method == "gp":
        return run_gp(ace, int(job.seed or 0), args)
    if job.method == "random":
        return run_random(ace, int(job.seed or 0), args)
    if job.method in LIBRARIES:
        return run_library(ace, job.method, args)
    if job.method in PPO_METHODS:
        return run_ppo(ace, job.method, int(job.seed or 0), args, job.source)
    if job.method == "alphagen":
        return run_alphagen(ace, int(job.seed or 0), args, job.source)
    raise SettingsError(f"unknown method {job.method!r}")


def _clock() -> float:
    import time

    return time.perf_counter()


def run_gp(ace: Any, seed: int, args: StudySettings) -> MethodRun:
    """Genetic programming with ``args.budget`` distinct evaluations; fitness = the pool gain
    (:func:`~alpha_env.search.genetic.pool_fitness`) of the run's pool."""
    from alpha_env.ace.pools import new_pool
    from alpha_env.search.genetic import GPSettings, Primitives, genetic_search, pool_fitness

    t0 = _clock()
    pool = new_pool(ace, args.pool)
    curve = Curve()
    gain = pool_fitness(ace, pool)

    def fitness(expr: Any) -> float:
        value = gain(expr)
        curve.step(pool.objective)
        return value

    settings = GPSettings(budget=args.budget, population_size=min(args.population, max(4, args.budget // 2)),
                          max_len=args.max_len, init_depth=(2, 4))
    result = genetic_search(fitness, Primitives.for_panel(ace.panel), settings, np.random.default_rng(seed))
    tried = [k for k, v in result.fitness_cache.items() if v != -math.inf]
    return MethodRun(tried, result.evaluations, [m.expr for m in pool.members], curve.points, False,
                     _clock() - t0, args.pool)


def run_random(ace: Any, seed: int, args: StudySettings) -> MethodRun:
    """Masked random search for ``args.budget`` episodes on an AlphaStackEnv paying the pool gain."""
    from alpha_env.ace.pools import new_pool
    from alpha_env.env import AlphaStackEnv
    from alpha_env.env.settings import EnvSettings
    from alpha_env.search.random_search import random_search

    t0 = _clock()
    pool = new_pool(ace, args.pool)
    curve = Curve()
    env = AlphaStackEnv(ace.panel, settings=ace.settings, alpha_pool=pool,
                        env_settings=EnvSettings(max_len=args.max_len, reward="pool", pool=args.pool,
                                                 cache_bytes=64 * 2**20,
                                                 refuse_degenerate=args.refuse_degenerate))
    def on_evaluation(index: int, reward: float, info: dict[str, Any]) -> None:
        curve.step((info.get("pool") or {}).get("objective"))

    history = random_search(env, args.budget, seed=seed, on_evaluation=on_evaluation)
    env.close()
    tried = list(dict.fromkeys(e for e, ok in zip(history.expressions, history.valid) if e and ok))
    return MethodRun(tried, len(history), [m.expr for m in pool.members], curve.points, False,
                     _clock() - t0, args.pool)


def run_library(ace: Any, name: str, args: StudySettings) -> MethodRun:
    """A fixed library (``alpha101``, ``alpha158``): every alpha evaluated, offered in the library's
    order to the study's pool; those that cannot run on the panel are named in the note."""
    from alpha_env.ace.pools import new_pool, offer_score, score_for_pool
    from alpha_env.cli.library import library_alphas

    t0 = _clock()
    pool = new_pool(ace, args.pool)
    curve = Curve()
    tried: list[str] = []
    failed: list[str] = []
    alphas = library_alphas(name)
    for label, _, text in alphas:
        try:
            score = score_for_pool(ace, pool, text)
        except AlphaEnvError:
            failed.append(label)
            curve.step(None)
            continue
        if score.degenerate_reason is not None:
            curve.step(None)
            continue
        tried.append(score.expression)
        offer_score(ace, pool, score)
        curve.step(pool.objective)
    note = f"not computable here: {', '.join(failed)}" if failed else ""
    return MethodRun(list(dict.fromkeys(tried)), len(alphas), [m.expr for m in pool.members], curve.points,
                     False, _clock() - t0, args.pool, note)


def _subprocess(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{what} exited {proc.returncode}: {tail[0]}")


def _common_options(ace: Any, seed: int, args: StudySettings, source: str) -> list[str]:
    s = ace.settings
    return ["--data", source, "--seed", str(seed), "--neutralization", s.neutralization,
            "--max-len", str(args.max_len), "--glitch-factor", str(args.glitch_factor),
            "--glitch-band", str(args.glitch_band), "--max-return", str(args.max_return),
            "--refuse-degenerate" if args.refuse_degenerate else "--no-refuse-degenerate"]


def run_ppo(ace: Any, method: str, seed: int, args: StudySettings, source: str,
            train_ppo: Path | None = None) -> MethodRun:
    """One main-job run (``experiments/train_ppo.py``, reward pool, the study's pool settings) stopped
    after ``args.budget`` evaluations; its wall-clock guard (``args.ppo_guard_minutes``) marks the run
    incomplete when it fires. ``source`` is the dataset path the subprocess loads (the study's slice
    options are not passed: PPO methods run on whole datasets, or ``synthetic``)."""
    from alpha_env.search.study_setup import CHECKOUT

    script = train_ppo or CHECKOUT / "experiments" / "train_ppo.py"
    t0 = _clock()
    steps = args.budget * (args.max_len + 1)  # enough for the whole budget at the longest expressions
    with tempfile.TemporaryDirectory() as tmp:
        argv = [*_common_options(ace, seed, args, source), "--total-timesteps", str(steps),
                "--time-limit-minutes", str(args.ppo_guard_minutes), "--max-evaluations", str(args.budget),
                "--cost-bps", "0", "--reward", "pool", *pool_options(args.pool), "--runs-dir", tmp,
                "--actor-init", "random" if method == "ppo_random" else "pretrained", "--no-progress"]
        if args.quick:
            argv += ["--quick-pretrain", "--n-steps", "2", "--batch-size", "16",
                     "--checkpoint", str(Path(tmp) / "decoder.pt")]
        if method == "ppo_docs":
            argv.append("--doc-mode")
            if args.doc_embeddings:
                argv += ["--embeddings", str(args.doc_embeddings)]
            if args.doc_hindsight:
                argv.append("--hindsight")
                if args.quick:
                    argv += ["--hindsight-corpus", "20", "--hindsight-epochs", "1"]
            argv += shlex.split(args.docs_options)
        _subprocess([sys.executable, str(script), *argv], "train_ppo")
        summaries = sorted(Path(tmp).glob("*/summary.json"))
        if len(summaries) != 1:
            raise RuntimeError(f"train_ppo wrote {len(summaries)} summaries under {tmp}")
        summary = json.loads(summaries[0].read_text())
    evaluations = int(summary.get("evaluations", 0))
    members = [m["expression"] for m in (summary.get("pool") or {}).get("members", [])]
    incomplete = bool(summary.get("stopped_by_time_limit")) or evaluations < args.budget
    note = "incomplete: stopped before the evaluation budget" if incomplete else ""
    return MethodRun(list(summary["evaluated"]), evaluations, members, summary.get("pool_curve", []),
                     incomplete, _clock() - t0, args.pool, note)


def run_alphagen(ace: Any, seed: int, args: StudySettings, source: str) -> MethodRun:
    """One AlphaGen-replication run (``agents/alphagen.py``) stopped after ``args.budget`` evaluations."""
    from alpha_env.search.study_setup import CHECKOUT

    t0 = _clock()
    pool = alphagen_pool(args.pool)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "summary.json"
        argv = [*_common_options(ace, seed, args, source), "--max-evaluations", str(args.budget),
                "--guard-minutes", str(args.ppo_guard_minutes), "--out", str(out), *pool_options(pool)]
        if args.quick:
            argv += ["--n-steps", "64"]
        _subprocess([sys.executable, str(CHECKOUT / "agents" / "alphagen.py"), *argv], "alphagen")
        summary = json.loads(out.read_text())
    evaluations = int(summary["evaluations"])
    incomplete = bool(summary["stopped_by_guard"]) or evaluations < args.budget
    note = "incomplete: stopped before the evaluation budget" if incomplete else ""
    members = [m["expression"] for m in summary["pool"]["members"]]
    return MethodRun(list(summary["evaluated"]), evaluations, members, summary["pool_curve"], incomplete,
                     _clock() - t0, pool, note)
