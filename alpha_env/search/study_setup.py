"""The study's settings, methods, datasets and trial book: what every part of the study reads
(:mod:`alpha_env.search.study` runs it, :mod:`~alpha_env.search.study_methods` searches,
:mod:`~alpha_env.search.study_judge` judges; they import from here, never from each other's callers)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alpha_env.errors import SettingsError
from alpha_env.pool.settings import PoolSettings

__all__ = [
    "ALL_METHODS",
    "BASELINES",
    "CHECKOUT",
    "LIBRARIES",
    "PPO_METHODS",
    "SUBPROCESS_METHODS",
    "StudyJob",
    "StudySettings",
    "Trial",
    "TrialBook",
    "dataset_sources",
    "has_news",
    "load_dataset",
    "simulation_settings",
    "slice_panel",
    "study_jobs",
]

CHECKOUT = Path(__file__).resolve().parents[2]
"""The source checkout this package runs from (defaults of the data and output folders, the git commit,
the scripts of the PPO and AlphaGen methods)."""

PPO_METHODS = ("ppo_pretrained", "ppo_random", "ppo_docs")
LIBRARIES = ("alpha101", "alpha158")
SUBPROCESS_METHODS = (*PPO_METHODS, "alphagen")
"""Methods run as subprocesses (they import torch)."""
BASELINES = ("gp", "random", "alphagen", *LIBRARIES)
"""The methods the PPO pools are compared with (the target check)."""
ALL_METHODS = (*PPO_METHODS, "alphagen", "gp", "random", *LIBRARIES)


@dataclass
class StudySettings:
    """Settings of the real-data study (``experiments/study_real_data.py`` reads them as its options).

    Validated when built: the methods must be known, the budget at least 2 evaluations.
    """

    quick: bool = False
    """tiny budgets on panel slices (1-2 minutes; what CI runs)"""
    datasets: list[str] = field(default_factory=lambda: ["sp500_2013_2018", "us_2006_2013"])
    """dataset folder names under --data-root (or 'synthetic')"""
    data_root: str = str(CHECKOUT.parent / "shared" / "data")
    """folder holding the datasets"""
    data: list[str] = field(default_factory=list)
    """more datasets: any Qlib folder or panel path (read by alpha_env.data.resolve_panel), e.g. a CSI300
    export to reproduce the anchors' setting"""
    methods: list[str] = field(default_factory=lambda: list(ALL_METHODS))
    """methods to run: ppo_pretrained ppo_random ppo_docs alphagen gp random alpha101 alpha158"""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """seeds of the searching methods (the libraries are deterministic: one run)"""
    budget: int = 20_000
    """evaluations per searching run (ACE simulations GP asked for; finished episodes of random search,
    PPO and AlphaGen), the same for every method"""
    costs: list[float] = field(default_factory=lambda: [0.0, 5.0])
    """cost settings in bps of the report (gross = 0, net = the largest); the search does not see costs"""
    criterion: str = "train+valid"
    """selection window of the best single alpha: train+valid (or train); never test"""
    population: int = 50
    """GP population size"""
    max_len: int = 20
    """most tokens per expression (GP, random search, PPO, AlphaGen)"""
    refuse_degenerate: bool = False
    """the masks of random search, PPO and AlphaGen refuse calls degenerate whatever the data (off: the type
    rules' masks, the main job's default and every published study's)"""
    n_dates: int = 0
    """keep only the first n dates (0: all; --quick: 300)"""
    n_stocks: int = 0
    """keep only the n stocks with the most prices (0: all; --quick: 60)"""
    ppo_guard_minutes: float = 600.0
    """wall-clock safety guard of one PPO or AlphaGen run (runs stop on the evaluation budget; a run this
    guard stopped is marked incomplete)"""
    docs_options: str = ""
    """extra train_ppo.py options of the ppo_docs runs, one string (e.g. "--alpha-encoder transformer
    --fusion cross_attention": the multi-encoder actor)"""
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
    pool: PoolSettings = field(default_factory=lambda: PoolSettings(min_ic_t=3.0),
                               metadata={"prefix": "pool_"})
    """the one pool and admission rule of every method (--pool-capacity, --pool-min-ic-t, ...; the main
    job's defaults); alphagen replaces the rule with rule alphagen"""
    ray: str | None = None
    """run the (dataset, method, seed) jobs as Ray tasks (1 CPU each): auto (join a running cluster, else
    start Ray here), local, or a cluster address (host:6379)"""
    workers: int = 1
    """without --ray: local processes running jobs side by side (1 = serially, in this process)"""
    out: str = str(CHECKOUT / "runs" / "study")
    """output folder: results.md, results/*.png, results/study.json"""
    jobs_dir: str = str(CHECKOUT / "runs" / "study" / "jobs")
    """each finished job's summary is saved here as it ends; a rerun with the same settings at the same
    commit reuses it (a study cut short loses only its running jobs); '' turns this off"""
    progress: bool = True
    """show progress"""

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in ALL_METHODS]
        if unknown:
            raise SettingsError(f"unknown method(s) {unknown}; choose from {list(ALL_METHODS)}")
        if self.budget < 2:
            raise SettingsError(f"--budget must be >= 2, got {self.budget}")
        if self.workers < 1:
            raise SettingsError(f"--workers must be >= 1, got {self.workers}")
        if self.ppo_guard_minutes <= 0:
            raise SettingsError(f"--ppo-guard-minutes must be > 0, got {self.ppo_guard_minutes}")


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


def dataset_sources(args: StudySettings) -> dict[str, str]:
    """``{label: source}`` of every dataset of the study: the ``--datasets`` names (under ``--data-root``,
    or ``synthetic``) and the ``--data`` paths (label: the folder's name).

    Raises:
        SettingsError: two datasets share a label.
    """
    out: dict[str, str] = {}
    for name in args.datasets:
        out[name] = "synthetic" if name == "synthetic" else str(Path(args.data_root) / name)
    for path in args.data:
        label = Path(path).name or str(path)
        if label in out:
            raise SettingsError(f"--data {path}: a dataset named {label!r} is already in the study")
        out[label] = str(path)
    return out


def load_dataset(source: str, args: StudySettings, notes: dict[str, Any] | None = None) -> Any:
    """Load one dataset (``synthetic`` = the embedded market; any path through
    :func:`~alpha_env.data.resolve_panel`), add ``--news-sentiment`` where it has news, and slice it as
    the settings say; what was added is recorded in ``notes``.

    Raises:
        DataError: the path does not exist or cannot be read.
    """
    from alpha_env.data import resolve_panel, synthetic_market
    from alpha_env.errors import DataError

    if source == "synthetic":
        panel = synthetic_market(seed=0)
    else:
        if not Path(source).exists():
            raise DataError(f"dataset {source!r} not found (set --data-root, or --data to a folder)")
        panel = resolve_panel(source)
    if args.news_sentiment and panel.documents is not None and len(panel.documents) > 0:
        from alpha_env.data import attach_daily_field, read_daily_field

        table = read_daily_field(args.news_sentiment, "news_sentiment")
        panel, counts = attach_daily_field(panel, table, "news_sentiment")
        if notes is not None:
            notes["news_sentiment"] = {"file": str(args.news_sentiment), **counts}
    if args.n_dates or args.n_stocks:
        panel = slice_panel(panel, args.n_dates, args.n_stocks)
    return panel


def simulation_settings(panel: Any, args: StudySettings) -> Any:
    """The study's backtest: delay 1, sector neutralization (market without sectors), truncation 0.1,
    0 bps (costs are applied afterwards), the return cleaning of ``args``."""
    from alpha_env.ace import SimulationSettings

    return SimulationSettings(delay=1, neutralization="sector" if "sector" in panel.group_names else "market",
                              truncation=0.1, cost_bps=0.0, max_return=args.max_return,
                              glitch_factor=args.glitch_factor, glitch_band=args.glitch_band)


def has_news(panel: Any) -> bool:
    """Whether ``panel`` carries documents (the ppo_docs method needs them)."""
    return panel.documents is not None and len(panel.documents) > 0


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


# ------------------------------------------------------------------------------------------ jobs
@dataclass(frozen=True)
class StudyJob:
    """One run of the study: a method on a dataset with a seed (``None`` for the fixed libraries)."""

    dataset: str
    source: str
    method: str
    seed: int | None


def study_jobs(args: StudySettings, news: dict[str, bool]) -> list[StudyJob]:
    """Every (dataset, method, seed) job, in a fixed order; ``ppo_docs`` only where ``news[dataset]``."""
    jobs: list[StudyJob] = []
    for name, source in dataset_sources(args).items():
        for method in args.methods:
            if method == "ppo_docs" and not news.get(name, False):
                continue
            seeds: list[int | None] = [None] if method in LIBRARIES else list(args.seeds)
            if args.quick and method in SUBPROCESS_METHODS:
                seeds = seeds[:1]  # --quick: one PPO / AlphaGen run each (each is a process start)
            jobs += [StudyJob(name, source, method, s) for s in seeds]
    return jobs


