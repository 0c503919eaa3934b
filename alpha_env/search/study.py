"""The real-data study: do searched alphas hold up out of sample better than the baselines?

On each dataset (``sp500_2013_2018`` with sectors, ``us_2006_2013`` with sectors, the per-stock
``news_count`` field and, with ``--news-sentiment``, the ``news_sentiment`` field of the encoded news)
and each cost setting, every method gets the same evaluation budget per seed:

* ``gp`` — genetic programming (:mod:`alpha_env.search.genetic`), fitness = train-split Sharpe;
* ``random`` — masked random search (:func:`alpha_env.search.random_search.random_search`, AlphaStackEnv);
* ``alpha101`` — the 101 Formulaic Alphas (:mod:`alpha_env.search.alpha101_library`; deterministic);
* ``ppo_pretrained`` / ``ppo_random`` / ``ppo_docs`` — PPO with the pretrained decoder actor, a randomly
  initialized one, and document-conditioned episodes (``us_2006_2013`` only), through
  ``experiments/train_ppo.py`` (full runs only; see ``docs/study.md``).

Every alpha a method tried is simulated once per dataset by the ACE (delay 1, sector neutralization,
truncation 0.1) at 0 bps; the metrics at each cost come from the same backtest (gross PnL minus
``cost · turnover``). Selection uses train+valid only: the best alpha of a run is the one with the best
train+valid Sharpe at the setting's cost, and the selected set is the best-first de-correlated top k.
The test split is read only for the report. The command writes ``results.md``, the PNG charts and
``study.json`` (with seeds, settings and the git commit) into ``--out`` (default ``docs/``).

Return cleaning masks bad daily returns in the backtests of every method alike, PPO's rewards included
(a data-cleaning step on the booked returns, never on what a signal sees; see ``docs/ace.md``): by
default one-day glitches (``--glitch-factor 1.5``, the decimal-shift closes of us_2006_2013); ``0`` turns
it off, ``--max-return`` adds a blunt cap.

This module is the library behind ``experiments/study_real_data.py`` (which parses
:class:`StudySettings` from the command line and writes the outputs with
:mod:`alpha_env.search.study_report`)::

    from alpha_env.search.study import StudySettings, apply_quick, run_study
    outcome = run_study(apply_quick(StudySettings(quick=True, datasets=["synthetic"])), command="demo")
    outcome.doc["runs"][0]["best"]

The PPO methods run ``experiments/train_ppo.py`` in a subprocess (torch is never imported here).
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alpha_env.errors import SettingsError

__all__ = [
    "ALL_METHODS",
    "CHECKOUT",
    "PPO_METHODS",
    "RunSummary",
    "StudyOutcome",
    "StudySettings",
    "Trial",
    "TrialBook",
    "alpha101_paper_statistics",
    "apply_quick",
    "git_commit",
    "load_dataset",
    "run_alpha101",
    "run_gp",
    "run_ppo",
    "run_random",
    "run_study",
    "slice_panel",
    "summarise",
]

CHECKOUT = Path(__file__).resolve().parents[2]
"""The source checkout this package runs from (defaults of the data and output folders, the git commit,
``experiments/train_ppo.py`` for the PPO methods)."""

PPO_METHODS = ("ppo_pretrained", "ppo_random", "ppo_docs")
ALL_METHODS = ("gp", "random", "alpha101", *PPO_METHODS)


@dataclass
class StudySettings:
    """Settings of the real-data study (``experiments/study_real_data.py`` reads them as its options).

    Validated when built: the methods must be known and the budget at least 2 evaluations.
    """

    quick: bool = False
    """tiny budgets on panel slices (< 1 minute; what CI runs)"""
    datasets: list[str] = field(default_factory=lambda: ["sp500_2013_2018", "us_2006_2013"])
    """dataset folder names under --data-root (or 'synthetic')"""
    data_root: str = str(CHECKOUT.parent / "shared" / "data")
    """folder holding the datasets"""
    methods: list[str] = field(default_factory=lambda: list(ALL_METHODS))
    """methods to run: gp random alpha101 ppo_pretrained ppo_random ppo_docs"""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """seeds of the searching methods (alpha101 is deterministic)"""
    budget: int = 400
    """evaluations (ACE simulations) per method, seed and cost setting"""
    costs: list[float] = field(default_factory=lambda: [0.0, 5.0])
    """cost settings in bps: each searches and selects at that cost"""
    criterion: str = "train+valid"
    """selection window: train+valid (or train); never test"""
    top_k: int = 10
    """size of the de-correlated selected set per run"""
    max_correlation: float = 0.7
    """largest train+valid PnL correlation between two selected alphas"""
    population: int = 50
    """GP population size"""
    max_len: int = 20
    """most tokens per expression (GP, random search, PPO)"""
    n_dates: int = 0
    """keep only the first n dates (0: all; --quick: 300)"""
    n_stocks: int = 0
    """keep only the n stocks with the most prices (0: all; --quick: 60)"""
    ppo_minutes: float = 2.0
    """wall-clock limit of one PPO run"""
    max_return: float = 0.0
    """return cleaning: a daily return with |r| above this books 0 (0 = off; alpha_env.backtest.cleaning)"""
    glitch_factor: float = 1.5
    """return cleaning: one-day glitches (a close off by more than this factor, undone the next day) book 0
    on both days (0 = off; 1.5 catches the decimal-shift closes of us_2006_2013)"""
    glitch_band: float = 0.05
    """how close the next close must come back for --glitch-factor (fraction)"""
    news_sentiment: str | None = None
    """per-stock news_sentiment table (``experiments/encode_documents.py --sentiment-model``) added as a
    field to the datasets that have news (cells without news: 0)"""
    doc_hindsight: bool = True
    """ppo_docs runs the hindsight document stage before PPO (train_ppo.py --hindsight)"""
    doc_embeddings: str | None = None
    """document-embedding table (``experiments/encode_documents.py``) the ppo_docs runs read (default:
    train_ppo.py's own encoding of the news)"""
    out: str = str(CHECKOUT / "docs")
    """output folder: results.md, results/*.png, results/study.json"""
    progress: bool = True
    """show progress"""

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in ALL_METHODS]
        if unknown:
            raise SettingsError(f"unknown method(s) {unknown}; choose from {list(ALL_METHODS)}")
        if self.budget < 2:
            raise SettingsError(f"--budget must be >= 2, got {self.budget}")


# ------------------------------------------------------------------------------------------ data
def slice_panel(panel: Any, n_dates: int, n_stocks: int) -> Any:
    """The first ``n_dates`` dates and the ``n_stocks`` stocks with the most closes there (ties by ticker),
    with the default 60/20/20 splits recomputed on the slice (0 keeps a dimension whole)."""
    from alpha_env.data import MarketPanel

    T, N = panel.shape
    t = slice(0, min(n_dates, T) if n_dates > 0 else T)
    counts = np.isfinite(panel.field("close")[t]).sum(axis=0)
    order = sorted(range(N), key=lambda i: (-int(counts[i]), str(panel.tickers[i])))
    cols = np.sort(np.asarray(order[: (min(n_stocks, N) if n_stocks > 0 else N)], dtype=np.int64))
    names = ["open", "high", "low", "close", "volume", *panel.custom_field_names]
    if not panel.metadata.get("vwap_approximated", True):
        names.append("vwap")
    fields = {n: panel.field(n)[t][:, cols] for n in names if panel.has_field(n)}
    groups = {g: (panel.group(g)[cols], panel.group_labels(g)) for g in panel.group_names if g != "market"}
    meta = dict(panel.metadata)
    meta["slice"] = {"dates": [0, t.stop], "stocks": int(cols.size)}
    return MarketPanel(panel.dates[t], panel.tickers[cols], fields, groups=groups,
                       universe=np.asarray(panel.universe)[t][:, cols], metadata=meta,
                       documents=panel.documents)


def load_dataset(name: str, args: StudySettings, notes: dict[str, Any] | None = None) -> Any:
    """Load one dataset (``synthetic`` = the embedded market), add ``--news-sentiment`` where it has news,
    and slice it as the settings say; what was added is recorded in ``notes``."""
    from alpha_env.data import load_panel, synthetic_market
    from alpha_env.errors import DataError

    if name == "synthetic":
        panel = synthetic_market(seed=0)
    else:
        path = Path(args.data_root) / name
        if not path.exists():
            raise DataError(f"dataset {name!r} not found at {path} (set --data-root)")
        panel = load_panel(path)
    if args.news_sentiment and panel.documents is not None and len(panel.documents) > 0:
        from alpha_env.data import attach_daily_field, read_daily_field

        table = read_daily_field(args.news_sentiment, "news_sentiment")
        panel, counts = attach_daily_field(panel, table, "news_sentiment")
        if notes is not None:
            notes["news_sentiment"] = {"file": str(args.news_sentiment), **counts}
    if args.n_dates or args.n_stocks:
        panel = slice_panel(panel, args.n_dates, args.n_stocks)
    return panel


# ------------------------------------------------------------------------------------------ trials
@dataclass
class Trial:
    """One distinct expression simulated on one dataset, with its metrics at every cost setting.

    ``metrics[cost][window]`` for windows ``train valid test select`` (``select`` = the selection window);
    PnL at a cost is ``gross_pnl - cost·1e-4·turnover``.
    """

    expression: str
    degenerate: bool
    metrics: dict[float, dict[str, dict[str, float]]]
    passed: dict[float, bool]
    gross_pnl: np.ndarray
    turnover: np.ndarray

    def pnl(self, cost: float) -> np.ndarray:
        """Daily PnL at ``cost`` bps, ``(T,)`` fraction of the book."""
        return self.gross_pnl - cost * 1e-4 * self.turnover

    def score(self, cost: float) -> float:
        """Selection score: selection-window Sharpe at ``cost`` (``-inf`` when degenerate)."""
        if self.degenerate:
            return -math.inf
        v = self.metrics[cost]["select"]["sharpe"]
        return float(v) if math.isfinite(v) else -math.inf


class TrialBook:
    """Simulate each distinct expression once on one dataset (ACE at 0 bps) and derive every cost."""

    def __init__(self, ace: Any, costs: Sequence[float], criterion: str):
        from alpha_env.search.alpha101_library import CRITERIA
        from alpha_env.search.selection import selection_window

        self.ace = ace
        self.costs = tuple(float(c) for c in costs)
        self.select = selection_window(ace.panel.splits, CRITERIA[criterion])
        self.trials: dict[str, Trial] = {}
        self.simulations = 0

    def get(self, expr: Any) -> Trial:
        """The trial of ``expr`` (text or tree), simulating it on first use."""
        from alpha_env.ace import run_checks
        from alpha_env.backtest import window_metrics
        from alpha_env.search.selection import at_cost

        tree, key = self.ace.canonical(expr)
        if key in self.trials:
            return self.trials[key]
        result = self.ace.simulate(tree, save=False)
        self.simulations += 1
        bt = result.backtest
        metrics: dict[float, dict[str, dict[str, float]]] = {}
        passed: dict[float, bool] = {}
        splits = dict(self.ace.panel.splits)
        dates = np.asarray(self.ace.panel.dates, dtype="datetime64[D]")
        for cost in self.costs:
            b = at_cost(bt, cost)
            m = {n: window_metrics(b, sl) for n, sl in splits.items() if n in ("train", "valid", "test")}
            m["select"] = window_metrics(b, self.select)
            metrics[cost] = m
            checks = run_checks(m, dates, b.pnl, splits[self.ace.thresholds.split], {}, self.ace.thresholds,
                                result.degenerate_reason)
            passed[cost] = all(c.passed for c in checks)
        trial = Trial(key, result.degenerate_reason is not None, metrics, passed,
                      np.array(bt.gross_pnl, dtype=np.float64), np.array(bt.turnover, dtype=np.float64))
        self.trials[key] = trial
        return trial


# ------------------------------------------------------------------------------------------ runs
@dataclass
class RunSummary:
    """One (dataset, cost, method, seed) run: what it tried and what it selected, judged on test."""

    dataset: str
    cost: float
    method: str
    seed: int | None
    evaluations: int
    distinct: int
    seconds: float
    best: str
    select_sharpe: float
    test: dict[str, float]
    test_gross_sharpe: float
    test_net_sharpe: float
    n_passing: int
    n_selected: int
    selected_corr: float
    dsr: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def summarise(book: TrialBook, dataset: str, cost: float, method: str, seed: int | None, tried: list[str],
              evaluations: int, seconds: float, args: StudySettings, net_cost: float,
              note: str = "") -> RunSummary:
    """Select on the selection window and judge on test (see the module docstring)."""
    from alpha_env.search.selection import (
        deflated_sharpe_from_pnl,
        greedy_decorrelated,
        mean_pairwise_correlation,
    )

    trials = [book.trials[k] for k in dict.fromkeys(tried)]
    usable = [t for t in trials if not t.degenerate and math.isfinite(t.score(cost))]
    sel = book.select
    test = book.ace.panel.splits["test"]
    nan = float("nan")
    if not usable:
        return RunSummary(dataset, cost, method, seed, evaluations, len(trials), seconds, "", nan, {}, nan,
                          nan, 0, 0, nan, nan, note or "no usable alpha")
    best = max(usable, key=lambda t: (t.score(cost), -len(t.expression)))
    chosen = greedy_decorrelated(usable, lambda t: t.score(cost), lambda t: t.pnl(cost)[sel], args.top_k,
                                 args.max_correlation)
    per_period = [t.score(cost) / math.sqrt(252.0) for t in usable]
    dsr = deflated_sharpe_from_pnl(best.pnl(cost)[sel], len(usable), per_period)
    return RunSummary(
        dataset=dataset, cost=cost, method=method, seed=seed, evaluations=evaluations, distinct=len(trials),
        seconds=seconds, best=best.expression, select_sharpe=best.score(cost),
        test=dict(best.metrics[cost]["test"]),
        test_gross_sharpe=float(best.metrics[0.0]["test"]["sharpe"]) if 0.0 in best.metrics else nan,
        test_net_sharpe=float(best.metrics[net_cost]["test"]["sharpe"]),
        n_passing=sum(t.passed[cost] for t in usable), n_selected=len(chosen),
        selected_corr=mean_pairwise_correlation([t.pnl(cost)[test] for t in chosen]), dsr=dsr, note=note,
    )


def run_gp(book: TrialBook, cost: float, seed: int, args: StudySettings) -> tuple[list[str], int]:
    """Genetic programming with ``args.budget`` distinct simulations; fitness = train Sharpe at ``cost``."""
    from alpha_env.search.genetic import GPSettings, Primitives, genetic_search

    panel = book.ace.panel
    settings = GPSettings(budget=args.budget, population_size=min(args.population, max(4, args.budget // 2)),
                          max_len=args.max_len, init_depth=(2, 4))

    def fitness(expr: Any) -> float:
        trial = book.get(expr)
        return -math.inf if trial.degenerate else float(trial.metrics[cost]["train"]["sharpe"])

    result = genetic_search(fitness, Primitives.for_panel(panel), settings, np.random.default_rng(seed))
    return list(result.fitness_cache), result.evaluations


def run_random(book: TrialBook, cost: float, seed: int, args: StudySettings) -> tuple[list[str], int]:
    """Masked random search on an AlphaStackEnv at ``cost`` for ``args.budget`` episodes."""
    from alpha_env.ace import SimulationSettings
    from alpha_env.env import AlphaStackEnv
    from alpha_env.search.random_search import random_search

    s = book.ace.settings
    env = AlphaStackEnv(book.ace.panel, max_len=args.max_len, cache_bytes=64 * 2**20,
                        settings=SimulationSettings(delay=s.delay, neutralization=s.neutralization,
                                                    truncation=s.truncation, cost_bps=cost,
                                                    max_return=s.max_return, glitch_factor=s.glitch_factor,
                                                    glitch_band=s.glitch_band))
    history = random_search(env, args.budget, seed=seed)
    env.close()
    tried = [e for e, ok in zip(history.expressions, history.valid) if e and ok]
    for e in tried:
        book.get(e)
    return tried, len(history)


def run_alpha101(book: TrialBook) -> tuple[list[str], int, str]:
    """Simulate the 101 alphas; those that cannot run on the panel are named in the note."""
    from alpha_env.search.alpha101_library import Alpha101Library

    entries = Alpha101Library(book.ace, simulate=lambda e: _result_stub(book, e)).simulate_all()
    failed = [f"#{e.number}" for e in entries if e.error]
    note = f"not computable here: {', '.join(failed)}" if failed else ""
    return [e.expression for e in entries if not e.error], len(entries), note


class _Stub:
    """What Alpha101Library needs of a result, backed by a Trial (no second simulation)."""

    def __init__(self, trial: Trial):
        self.degenerate_reason = "degenerate" if trial.degenerate else None


def _result_stub(book: TrialBook, expr: Any) -> Any:
    return _Stub(book.get(expr))


def run_ppo(
    book: TrialBook, method: str, cost: float, seed: int, args: StudySettings, dataset_path: str,
    train_ppo: Path = CHECKOUT / "experiments" / "train_ppo.py",
) -> tuple[list[str], int]:
    """One PPO run of ``train_ppo`` (experiments/train_ppo.py, in a subprocess), rewarded at the setting's
    cost and stopped after the study's evaluation budget (or its time limit). Every distinct valid alpha
    it evaluated is re-simulated here, as for random search: selection and the deflated Sharpe ratio see
    all of them.

    Each run is its own process: its environments, caches and torch state are released when it ends
    (run in-process, 30 runs grew the study past the machine's 24 GiB).
    """
    import tempfile

    # enough timesteps for the whole budget even at the longest expressions; --max-evaluations stops it
    steps = args.budget * (args.max_len + 1)
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["--data", dataset_path, "--seed", str(seed), "--neutralization", "sector",
                "--total-timesteps", str(steps), "--time-limit-minutes", str(args.ppo_minutes),
                "--max-evaluations", str(args.budget), "--cost-bps", str(cost),
                "--max-len", str(args.max_len), "--top-n", str(args.top_k), "--runs-dir", tmp,
                "--actor-init", "random" if method == "ppo_random" else "pretrained",
                "--glitch-factor", str(args.glitch_factor), "--glitch-band", str(args.glitch_band),
                "--max-return", str(args.max_return)]
        if method == "ppo_docs":
            argv.append("--doc-mode")
            if args.doc_embeddings:
                argv += ["--embeddings", str(args.doc_embeddings)]
            if args.doc_hindsight:
                argv.append("--hindsight")
        if not args.progress:
            argv.append("--no-progress")
        proc = subprocess.run([sys.executable, str(train_ppo), *argv], cwd=train_ppo.resolve().parents[1],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"train_ppo exited {proc.returncode}: {tail[0]}")
        summaries = sorted(Path(tmp).glob("*/summary.json"))
        if len(summaries) != 1:
            raise RuntimeError(f"train_ppo wrote {len(summaries)} summaries under {tmp}")
        summary = json.loads(summaries[0].read_text())
    tried = list(summary["evaluated"])
    for e in tried:
        book.get(e)
    return tried, int(summary.get("evaluations", len(tried)))


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
    """``--quick``: tiny budgets (16), two seeds, a 300 x 60 slice, no PPO methods; otherwise unchanged."""
    if not args.quick:
        return args
    return dataclasses.replace(
        args, budget=min(args.budget, 16), seeds=args.seeds[:2], n_dates=args.n_dates or 300,
        n_stocks=args.n_stocks or 60, population=min(args.population, 8),
        methods=[m for m in args.methods if m not in PPO_METHODS], top_k=min(args.top_k, 5),
    )


@dataclass
class StudyOutcome:
    """What :func:`run_study` returns.

    Attributes:
        doc: the JSON-ready study document (command, settings, commit, datasets, runs, paper figures;
            ``charts`` is empty until the caller draws them).
        runs: one :class:`RunSummary` per (dataset, cost, method, seed).
        books: the :class:`TrialBook` of each dataset (every simulated alpha, for charts).
    """

    doc: dict[str, Any]
    runs: list[RunSummary]
    books: dict[str, TrialBook]


def run_study(
    args: StudySettings, command: str, train_ppo: Path = CHECKOUT / "experiments" / "train_ppo.py"
) -> StudyOutcome:
    """Run every method on every dataset and cost of ``args`` (see the module docstring).

    Args:
        args: the study's settings (apply :func:`apply_quick` first for ``--quick``).
        command: the command line recorded in the document.
        train_ppo: the script the PPO methods run in a subprocess.
    """
    from tqdm import tqdm

    from alpha_env.ace import ACE, SimulationSettings
    from alpha_env.backtest.cleaning import return_mask
    from alpha_env.search.paper_stats import paper_statistics

    commit = git_commit()  # the code that runs: read now, not after hours of work on the tree
    costs = sorted({float(c) for c in args.costs} | {0.0})
    net_cost = max(costs)
    started = time.perf_counter()
    runs: list[RunSummary] = []
    datasets: dict[str, Any] = {}
    books: dict[str, TrialBook] = {}
    library: dict[str, list[str]] = {}
    for name in args.datasets:
        t0 = time.perf_counter()
        notes: dict[str, Any] = {}
        panel = load_dataset(name, args, notes)
        settings = SimulationSettings(delay=1, neutralization="sector" if "sector" in panel.group_names
                                      else "market", truncation=0.1, cost_bps=0.0,
                                      max_return=args.max_return, glitch_factor=args.glitch_factor,
                                      glitch_band=args.glitch_band)
        ace = ACE(panel, settings)
        book = TrialBook(ace, costs, args.criterion)
        books[name] = book
        datasets[name] = {
            "shape": list(panel.shape), "dates": [str(panel.dates[0]), str(panel.dates[-1])],
            "splits": {k: [str(panel.dates[v.start or 0]), str(panel.dates[v.stop - 1])]
                       for k, v in panel.splits.items()},
            "fields": list(panel.field_names), "dataset_id": panel.dataset_id,
            "neutralization": settings.neutralization, "load_seconds": time.perf_counter() - t0, **notes,
        }
        if settings.backtest.cleans_returns:
            masked = return_mask(panel.field("returns"), settings.backtest)
            datasets[name]["masked_returns"] = int(masked.sum())
        jobs: list[tuple[float, str, int | None]] = []
        for cost in [c for c in costs if c in {float(x) for x in args.costs}]:
            for method in args.methods:
                if method == "ppo_docs" and (panel.documents is None or len(panel.documents) == 0):
                    continue
                seeds: list[int | None] = [None] if method == "alpha101" else list(args.seeds)
                jobs += [(cost, method, s) for s in seeds]
        lib_cache: tuple[list[str], int, str] | None = None
        for cost, method, seed in tqdm(jobs, desc=name, disable=not args.progress):
            t1 = time.perf_counter()
            note = ""
            try:
                if method == "gp":
                    tried, n = run_gp(book, cost, int(seed), args)
                elif method == "random":
                    tried, n = run_random(book, cost, int(seed), args)
                elif method == "alpha101":
                    if lib_cache is None:
                        lib_cache = run_alpha101(book)
                        library[name] = lib_cache[0]
                    tried, n, note = lib_cache
                else:
                    tried, n = run_ppo(book, method, cost, int(seed), args, str(Path(args.data_root) / name),
                                       train_ppo)
            except Exception as exc:  # a failing method is reported, not fatal to the study
                runs.append(RunSummary(name, cost, method, seed, 0, 0, time.perf_counter() - t1, "", math.nan,
                                       {}, math.nan, math.nan, 0, 0, math.nan, math.nan,
                                       f"failed: {type(exc).__name__}: {exc}"[:300]))
                continue
            runs.append(summarise(book, name, cost, method, seed, tried, n, time.perf_counter() - t1, args,
                                  net_cost, note))
        datasets[name]["simulations"] = book.simulations
        datasets[name]["seconds"] = time.perf_counter() - t0

    paper = {name: paper_statistics([books[name].trials[k] for k in exprs], books[name].ace.panel.splits)
             for name, exprs in library.items()}
    doc = {
        "command": command, "args": dataclasses.asdict(args), "commit": commit,
        "python": platform.python_version(), "seconds": time.perf_counter() - started, "datasets": datasets,
        "net_cost": net_cost, "runs": [r.to_dict() for r in runs], "paper": paper, "charts": [],
    }
    return StudyOutcome(doc, runs, books)


def alpha101_paper_statistics(dataset: str | Path) -> dict[str, Any]:
    """The paper's statistics (:func:`alpha_env.search.paper_stats.paper_statistics`) of the 101 alphas
    simulated over one whole dataset folder (or ``synthetic``): delay 1, sector (else market)
    neutralization, truncation 0.1, 0 bps."""
    from alpha_env.ace import ACE, SimulationSettings
    from alpha_env.search.paper_stats import paper_statistics

    path = Path(dataset)
    panel = load_dataset(path.name, StudySettings(data_root=str(path.parent)))
    neutral = "sector" if "sector" in panel.group_names else "market"
    book = TrialBook(ACE(panel, SimulationSettings(delay=1, neutralization=neutral, truncation=0.1)),
                     [0.0], "train+valid")
    exprs, _, _ = run_alpha101(book)
    return paper_statistics([book.trials[e] for e in exprs])
