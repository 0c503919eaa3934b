"""The real-data study, round 2: every method mines a pool on the same protocol (``docs/study.md``).

On each dataset (``sp500_2013_2018`` and ``us_2006_2013`` under ``--data-root``, any Qlib folder or panel
with ``--data``) every searching method gets the same evaluation budget per seed and mines an alpha
**pool** under one admission rule (:class:`~alpha_env.pool.PoolSettings`, declared once in
:class:`StudySettings` as the ``--pool-*`` options):

* ``ppo_pretrained`` / ``ppo_random`` / ``ppo_docs`` — the main job (``experiments/train_ppo.py``,
  ``reward="pool"``) with the pretrained decoder actor, a random one, and news-conditioned episodes with
  the multi-encoder options of ``--docs-options`` (datasets with news only);
* ``alphagen`` — the AlphaGen replication (``agents/alphagen.py``: MaskablePPO, MLP policy, the pool's
  ``rule="alphagen"`` and its reward);
* ``gp`` — genetic programming whose fitness is the pool gain
  (:func:`~alpha_env.search.genetic.pool_fitness`);
* ``random`` — masked random search on the env with ``reward="pool"``;
* ``alpha101`` / ``alpha158`` — the fixed libraries, offered in their order to the same pool rule.

Each (dataset, method, seed) run is one job (:func:`run_job`, in :mod:`alpha_env.search.study_methods`
and :mod:`alpha_env.search.study_judge`): it loads its panel, searches, then judges on its own, so the
jobs run serially, in ``--workers`` local processes or as Ray tasks (``--ray``) with the same results.
Judging: every distinct alpha the run tried is simulated at 0 bps (metrics at 5 bps from the same
backtest); the pool's weights are fit on train; the best single alpha is chosen on train+valid; the test
split is read for the report only. The PPO and AlphaGen runs are subprocesses (torch is never imported
here)::

    from alpha_env.search.study import StudySettings, apply_quick, run_study
    settings = StudySettings(quick=True, datasets=["synthetic"], methods=["gp"])
    outcome = run_study(apply_quick(settings), "demo")
    outcome.doc["runs"][0]["pool"]["test"]["rank_ic"]
"""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpha_env.search.study_setup import (
    ALL_METHODS,
    BASELINES,
    CHECKOUT,
    LIBRARIES,
    PPO_METHODS,
    SUBPROCESS_METHODS,
    StudyJob,
    StudySettings,
    Trial,
    TrialBook,
    dataset_sources,
    has_news,
    load_dataset,
    simulation_settings,
    slice_panel,
    study_jobs,
)

__all__ = [
    "ALL_METHODS",
    "BASELINES",
    "CHECKOUT",
    "LIBRARIES",
    "PPO_METHODS",
    "SUBPROCESS_METHODS",
    "StudyJob",
    "StudyOutcome",
    "StudySettings",
    "Trial",
    "TrialBook",
    "alpha101_paper_statistics",
    "apply_quick",
    "dataset_sources",
    "git_commit",
    "job_file",
    "job_key",
    "load_dataset",
    "run_job",
    "run_study",
    "simulation_settings",
    "slice_panel",
    "study_jobs",
]


#: Settings that do not change a job's result (how and where the study runs).
_NOT_RESULT = ("ray", "workers", "out", "jobs_dir", "progress")


def job_key(args: StudySettings, commit: str) -> str:
    """What a job's saved result depends on: the settings that change results and the code's commit."""
    d = {k: v for k, v in dataclasses.asdict(args).items() if k not in _NOT_RESULT}
    return json.dumps({"commit": commit, "settings": d}, sort_keys=True, default=str)


def job_file(job: StudyJob, args: StudySettings) -> Path | None:
    """Where ``job``'s summary is saved (``None`` when ``jobs_dir`` is off)."""
    if not args.jobs_dir:
        return None
    return Path(args.jobs_dir) / f"{job.dataset}__{job.method}__{job.seed}.json"


def run_job(job: StudyJob, args: StudySettings, commit: str = "") -> dict[str, Any]:
    """Run one job to its JSON-ready summary (search, then judge; see :mod:`alpha_env.search.study_judge`).
    A failing method is reported in ``note`` (``failed: ...``), not raised. With ``jobs_dir`` set, a
    summary saved by an earlier run with the same :func:`job_key` at a clean commit is returned instead of
    rerunning, and a new one is saved (written to a temporary file, then renamed: a crash never leaves
    half a file)."""
    from alpha_env.search.study_judge import failed_summary, judge
    from alpha_env.search.study_methods import run_method

    path, key = job_file(job, args), job_key(args, commit)
    reusable = bool(commit) and not commit.endswith("+dirty") and commit != "unknown"
    if path is not None and reusable and path.exists():
        try:
            saved = json.loads(path.read_text())
            if saved.get("key") == key:
                return saved["summary"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable: run the job again
    started = time.perf_counter()
    try:
        panel = load_dataset(job.source, args)
        run = run_method(job, panel, args)
        summary = judge(job, panel, run, args, time.perf_counter() - started)
    except Exception as exc:  # a failing method is reported, not fatal to the study
        note = f"failed: {type(exc).__name__}: {exc}"[:300]
        return failed_summary(job, note, time.perf_counter() - started)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "summary": summary}, default=str))
        tmp.replace(path)
    return summary


def _run_jobs(jobs: list[StudyJob], args: StudySettings, commit: str = "") -> list[dict[str, Any]]:
    """The jobs' summaries in job order: serially, in ``args.workers`` processes, or as Ray tasks."""
    if args.ray:
        import ray

        if not ray.is_initialized():
            address = None if args.ray == "local" else args.ray
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True)
        remote = ray.remote(num_cpus=1)(run_job)
        return list(ray.get([remote.remote(job, args, commit) for job in jobs]))
    if args.workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(run_job, jobs, [args] * len(jobs), [commit] * len(jobs)))
    from tqdm import tqdm

    return [run_job(job, args, commit) for job in tqdm(jobs, desc="study", disable=not args.progress)]


# ------------------------------------------------------------------------------------------ study
def git_commit(root: Path = CHECKOUT) -> str:
    """``HEAD`` commit of ``root`` (with ``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True,
                               check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def apply_quick(args: StudySettings) -> StudySettings:
    """``--quick``: a budget of 16 evaluations, two seeds (one for the PPO and AlphaGen methods), a 300 x 60
    slice (the PPO and AlphaGen subprocesses search the whole dataset and are judged on the slice), a pool
    of 5 members, no saved jobs; otherwise unchanged."""
    if not args.quick:
        return args
    return dataclasses.replace(
        args, budget=min(args.budget, 16), seeds=args.seeds[:2], n_dates=args.n_dates or 300,
        n_stocks=args.n_stocks or 60, population=min(args.population, 8),
        pool=dataclasses.replace(args.pool, capacity=min(args.pool.capacity, 5)), jobs_dir="",
    )


@dataclass
class StudyOutcome:
    """What :func:`run_study` returns.

    Attributes:
        doc: the JSON-ready study document (command, settings, commit, datasets, runs, the target check;
            ``charts`` is empty until the caller draws them).
        runs: one summary dict per (dataset, method, seed) job (``doc["runs"]``, with ``test_pnl``).
    """

    doc: dict[str, Any]
    runs: list[dict[str, Any]]


def _dataset_info(name: str, source: str, args: StudySettings) -> tuple[dict[str, Any], bool]:
    from alpha_env.backtest.cleaning import return_mask

    t0 = time.perf_counter()
    notes: dict[str, Any] = {}
    panel = load_dataset(source, args, notes)
    settings = simulation_settings(panel, args)
    info = {
        "source": source, "shape": list(panel.shape), "dates": [str(panel.dates[0]), str(panel.dates[-1])],
        "splits": {k: [str(panel.dates[v.start or 0]), str(panel.dates[v.stop - 1])]
                   for k, v in panel.splits.items()},
        "test_dates": [str(d) for d in panel.dates[panel.splits["test"]]],
        "fields": list(panel.field_names), "dataset_id": panel.dataset_id,
        "neutralization": settings.neutralization, "load_seconds": time.perf_counter() - t0, **notes,
    }
    if settings.backtest.cleans_returns:
        info["masked_returns"] = int(return_mask(panel.field("returns"), settings.backtest).sum())
    return info, has_news(panel)


def run_study(args: StudySettings, command: str,
              on_job: Callable[[dict[str, Any]], None] | None = None) -> StudyOutcome:
    """Run every job of ``args`` (see the module docstring) and assemble the study document.

    Args:
        args: the study's settings (apply :func:`apply_quick` first for ``--quick``).
        command: the command line recorded in the document.
        on_job: optional hook called with each job's summary (serial runs: as they finish).
    """
    from alpha_env.search.study_judge import target_check

    commit = git_commit()  # the code that runs: read now, not after hours of work on the tree
    started = time.perf_counter()
    datasets: dict[str, Any] = {}
    news: dict[str, bool] = {}
    for name, source in dataset_sources(args).items():
        datasets[name], news[name] = _dataset_info(name, source, args)
    jobs = study_jobs(args, news)
    runs = _run_jobs(jobs, args, commit)
    for run in runs:
        if on_job is not None:
            on_job(run)
    for name in datasets:
        mine = [r for r in runs if r["dataset"] == name]
        datasets[name]["simulations"] = sum(r.get("simulations", 0) for r in mine)
        datasets[name]["seconds"] = sum(r["seconds"] for r in mine)
    paper = {r["dataset"]: r.pop("paper") for r in runs if r.get("paper")}
    net_cost = max({float(c) for c in args.costs} | {0.0})
    doc = {
        "command": command, "args": dataclasses.asdict(args), "commit": commit,
        "python": platform.python_version(), "seconds": time.perf_counter() - started,
        "executor": f"ray {args.ray}" if args.ray else (f"{args.workers} processes" if args.workers > 1
                                                        else "serial"),
        "datasets": datasets, "net_cost": net_cost, "runs": runs, "paper": paper,
        "target": target_check(runs, list(datasets)), "charts": [],
    }
    return StudyOutcome(doc, runs)


def alpha101_paper_statistics(dataset: str | Path) -> dict[str, Any]:
    """The paper's statistics (:func:`alpha_env.search.paper_stats.paper_statistics`) of the 101 alphas
    simulated over one whole dataset folder (or ``synthetic``): delay 1, sector (else market)
    neutralization, truncation 0.1, 0 bps."""
    from alpha_env.ace import ACE
    from alpha_env.cli.library import library_alphas
    from alpha_env.errors import AlphaEnvError
    from alpha_env.search.paper_stats import paper_statistics

    args = StudySettings()
    panel = load_dataset("synthetic" if str(dataset) == "synthetic" else str(dataset), args)
    book = TrialBook(ACE(panel, simulation_settings(panel, args)), [0.0], "train+valid")
    trials = []
    for _, _, text in library_alphas("alpha101"):
        try:
            trials.append(book.get(text))
        except AlphaEnvError:
            continue
    return paper_statistics(trials)
