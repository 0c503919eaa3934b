"""The real-data study: do searched alphas hold up out of sample better than the baselines?

On each dataset (``sp500_2013_2018`` with sectors, ``us_2006_2013`` with sectors, the per-stock
``news_count`` field and, with ``--news-sentiment``, the ``news_sentiment`` field of the encoded news)
and each cost setting, every method gets the same evaluation budget per seed:

* ``gp`` — genetic programming (:mod:`alpha_env.search.genetic`), fitness = train-split Sharpe;
* ``random`` — masked random search (:func:`alpha_env.search.random_search.random_search` on an AlphaStackEnv);
* ``alpha101`` — the 101 Formulaic Alphas (:mod:`alpha_env.search.alpha101_library`; deterministic, one run);
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

Usage::

    python experiments/study_real_data.py --quick            # < 1 minute: slices, tiny budgets
    python experiments/study_real_data.py                    # full settings (offline, < 2 hours)
    python experiments/study_real_data.py --methods gp random alpha101 --budget 500
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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "experiments") not in sys.path:
    sys.path.insert(0, str(ROOT / "experiments"))

from _common import parse_args  # noqa: E402

__all__ = ["Args", "Trial", "TrialBook", "RunSummary", "slice_panel", "parse_arguments", "render_markdown",
           "main"]

PPO_METHODS = ("ppo_pretrained", "ppo_random", "ppo_docs")
ALL_METHODS = ("gp", "random", "alpha101", *PPO_METHODS)


@dataclass
class Args:
    """Arguments of study_real_data.py."""

    quick: bool = False
    """tiny budgets on panel slices (< 1 minute; what CI runs)"""
    datasets: list[str] = field(default_factory=lambda: ["sp500_2013_2018", "us_2006_2013"])
    """dataset folder names under --data-root (or 'synthetic')"""
    data_root: str = str(ROOT.parent / "shared" / "data")
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
    out: str = str(ROOT / "docs")
    """output folder: results.md, results/*.png, results/study.json"""
    progress: bool = True
    """show progress"""


def parse_arguments(argv: Sequence[str] | None = None) -> Args:
    """Parse the command line into :class:`Args` (``--kebab-case`` per field; lists take several values)."""
    return parse_args(Args, argv, description=(__doc__ or "").splitlines()[0])


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


def load_dataset(name: str, args: Args, notes: dict[str, Any] | None = None) -> Any:
    """Load one dataset (``synthetic`` = the embedded market), add ``--news-sentiment`` where it has news,
    and slice it as the arguments say; what was added is recorded in ``notes``."""
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
        from alpha_env.search.selection import at_cost
        from alpha_env.ace import run_checks
        from alpha_env.backtest import window_metrics

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
              evaluations: int, seconds: float, args: Args, net_cost: float, note: str = "") -> RunSummary:
    """Select on the selection window and judge on test (see the module docstring)."""
    from alpha_env.search.selection import deflated_sharpe_from_pnl, greedy_decorrelated, mean_pairwise_correlation

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


def run_gp(book: TrialBook, cost: float, seed: int, args: Args) -> tuple[list[str], int]:
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


def run_random(book: TrialBook, cost: float, seed: int, args: Args) -> tuple[list[str], int]:
    """Masked random search on an AlphaStackEnv at ``cost`` for ``args.budget`` episodes."""
    from alpha_env.search.random_search import random_search
    from alpha_env.ace import SimulationSettings
    from alpha_env.env import AlphaStackEnv

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
    book: TrialBook, method: str, cost: float, seed: int, args: Args, dataset_path: str
) -> tuple[list[str], int]:
    """One PPO run of experiments/train_ppo.py, rewarded at the setting's cost and stopped after the
    study's evaluation budget (or its time limit). Every distinct valid alpha it evaluated is re-simulated
    here, as for random search: selection and the deflated Sharpe ratio see all of them.

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
        proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "train_ppo.py"), *argv],
                              cwd=ROOT, capture_output=True, text=True)
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


# ------------------------------------------------------------------------------------------ main
def git_commit() -> str:
    """``HEAD`` commit (with ``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _apply_quick(args: Args) -> Args:
    if not args.quick:
        return args
    return dataclasses.replace(
        args, budget=min(args.budget, 16), seeds=args.seeds[:2], n_dates=args.n_dates or 300,
        n_stocks=args.n_stocks or 60, population=min(args.population, 8),
        methods=[m for m in args.methods if m not in PPO_METHODS], top_k=min(args.top_k, 5),
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the study; returns the JSON document also written to ``<out>/results/study.json``."""
    from tqdm import tqdm

    from alpha_env.ace import ACE, SimulationSettings
    from alpha_env.backtest.cleaning import return_mask
    from alpha_env.errors import SettingsError

    args = _apply_quick(parse_arguments(argv))
    commit = git_commit()  # the code that runs: read now, not after hours of work on the tree
    unknown = [m for m in args.methods if m not in ALL_METHODS]
    if unknown:
        raise SettingsError(f"unknown method(s) {unknown}; choose from {list(ALL_METHODS)}")
    if args.budget < 2:
        raise SettingsError(f"--budget must be >= 2, got {args.budget}")
    costs = sorted({float(c) for c in args.costs} | {0.0})
    net_cost = max(costs)
    out = Path(args.out)
    figures = out / "results"
    figures.mkdir(parents=True, exist_ok=True)
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
        if settings.backtest().cleans_returns:
            masked = return_mask(panel.field("returns"), settings.backtest())
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
                    tried, n = run_ppo(book, method, cost, int(seed), args, str(Path(args.data_root) / name))
            except Exception as exc:  # a failing method is reported, not fatal to the study
                runs.append(RunSummary(name, cost, method, seed, 0, 0, time.perf_counter() - t1, "", math.nan,
                                       {}, math.nan, math.nan, 0, 0, math.nan, math.nan,
                                       f"failed: {type(exc).__name__}: {exc}"[:300]))
                continue
            runs.append(summarise(book, name, cost, method, seed, tried, n, time.perf_counter() - t1, args,
                                  net_cost, note))
        datasets[name]["simulations"] = book.simulations
        datasets[name]["seconds"] = time.perf_counter() - t0

    from paper_figures import paper_statistics

    paper = {name: paper_statistics([books[name].trials[k] for k in exprs], books[name].ace.panel.splits)
             for name, exprs in library.items()}
    charts = _charts(runs, books, figures, net_cost)
    doc = {
        "command": " ".join(["python experiments/study_real_data.py", *(argv if argv is not None
                                                                         else sys.argv[1:])]),
        "args": dataclasses.asdict(args), "commit": commit, "python": platform.python_version(),
        "seconds": time.perf_counter() - started, "datasets": datasets, "net_cost": net_cost,
        "runs": [r.to_dict() for r in runs], "paper": paper, "charts": charts,
    }
    (figures / "study.json").write_text(json.dumps(doc, indent=1, default=_json_default))
    (out / "results.md").write_text(render_markdown(doc))
    return doc


def _charts(runs: list[RunSummary], books: dict[str, TrialBook], folder: Path, net_cost: float) -> list[str]:
    """One PNG per dataset and cost: cumulative test PnL (net) of each run's best alpha."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[str] = []
    colors = {m: plt.get_cmap("tab10")(i) for i, m in enumerate(ALL_METHODS)}
    for (dataset, cost) in dict.fromkeys((r.dataset, r.cost) for r in runs):
        book = books[dataset]
        test = book.ace.panel.splits["test"]
        dates = book.ace.panel.dates[test]
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for r in runs:
            if (r.dataset, r.cost) != (dataset, cost) or not r.best:
                continue
            pnl = book.trials[r.best].pnl(cost)[test]
            style = "-" if r.seed in (None, 0) else "--"
            label = r.method if r.seed in (None, 0) else None
            ax.plot(dates, np.cumsum(pnl), style, color=colors[r.method], lw=1.3, label=label, alpha=0.9)
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_title(f"{dataset}: cumulative test PnL of the best alpha per method ({cost:g} bps)")
        ax.set_ylabel("cumulative PnL (fraction of book)")
        ax.legend(loc="upper left", fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        path = folder / f"test_pnl_{dataset}_{cost:g}bps.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path.name)
    return paths


def _f(x: Any, spec: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _mean_sd(values: list[float], spec: str = ".2f") -> str:
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return "n/a"
    if len(v) == 1:
        return format(v[0], spec)
    return f"{format(float(np.mean(v)), spec)} ± {format(float(np.std(v, ddof=1)), spec)}"


_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("sel. Sharpe (train+valid)", ".2f", lambda r: r["select_sharpe"]),
    ("test Sharpe gross", ".2f", lambda r: r["test_gross_sharpe"]),
    ("test Sharpe net", ".2f", lambda r: r["test_net_sharpe"]),
    ("test annual return %", ".1f", lambda r: 100 * r["test"].get("annual_return", math.nan)),
    ("test turnover %", ".0f", lambda r: 100 * r["test"].get("turnover", math.nan)),
    ("test fitness", ".2f", lambda r: r["test"].get("fitness", math.nan)),
    ("test max DD %", ".1f", lambda r: 100 * r["test"].get("max_drawdown", math.nan)),
    ("test rank IC", ".4f", lambda r: r["test"].get("rank_ic", math.nan)),
    ("# passing checks", ".1f", lambda r: float(r["n_passing"])),
    ("selected corr (test)", ".2f", lambda r: r["selected_corr"]),
    ("DSR best", ".2f", lambda r: r["dsr"]),
    ("distinct alphas", ".0f", lambda r: float(r["distinct"])),
)


def render_markdown(doc: dict[str, Any]) -> str:
    """``results.md``: settings, one table per dataset and cost, per-run details, charts, paper figures."""
    from paper_figures import paper_markdown

    a = doc["args"]
    lines = [
        "# Results: searched alphas vs baselines, out of sample",
        "",
        "Generated by `" + doc["command"] + "` — do not edit by hand; see `docs/study.md` for the design.",
        "",
        f"* commit `{doc['commit']}`, Python {doc['python']}, total {doc['seconds']:.0f} s"
        + (" — **quick mode: tiny budgets on panel slices, numbers are a smoke test, not findings**"
           if a["quick"] else ""),
        f"* seeds {a['seeds']}; budget {a['budget']} evaluations per method, seed and cost; costs "
        f"{a['costs']} bps (gross = 0 bps, net = {doc['net_cost']:g} bps)",
        f"* settings: delay 1, neutralization sector (market where a panel has no sectors), truncation 0.1; "
        f"selection on {a['criterion']} (best-first, top {a['top_k']} with PnL correlation <= "
        f"{a['max_correlation']}); every figure below marked *test* is out of sample",
    ]
    if a.get("max_return", 0.0) > 0 or a.get("glitch_factor", 0.0) > 0:
        rules = ([f"|daily return| > {a['max_return']:g}"] if a.get("max_return", 0.0) > 0 else []) + (
            [f"one-day glitches (factor > {a['glitch_factor']:g}, back within {a['glitch_band']:.0%} the "
             "next day)"] if a.get("glitch_factor", 0.0) > 0 else [])
        lines.append("* return cleaning (booked returns only, signals see the raw data): "
                     + " and ".join(rules) + " book 0")
    lines.append("")
    for name, d in doc["datasets"].items():
        lines.append(f"* `{name}`: {d['shape'][0]} dates x {d['shape'][1]} stocks, {d['dates'][0]} .. "
                     f"{d['dates'][1]}; splits "
                     + ", ".join(f"{k} {v[0]}..{v[1]}" for k, v in d["splits"].items())
                     + f"; fields {', '.join(d['fields'])}; {d['simulations']} distinct simulations, "
                     f"{d['seconds']:.0f} s"
                     + (f"; {d['masked_returns']} returns masked by the cleaning" if "masked_returns" in d
                        else ""))
    lines.append("")
    runs = doc["runs"]
    for name in doc["datasets"]:
        for cost in dict.fromkeys(r["cost"] for r in runs if r["dataset"] == name):
            group = [r for r in runs if r["dataset"] == name and r["cost"] == cost]
            lines += [f"## {name}, {cost:g} bps", "",
                      "Best alpha of each run (mean ± sd over seeds), judged on the test split.", "",
                      "| method | runs | " + " | ".join(c[0] for c in _COLUMNS) + " |",
                      "|---|---|" + "---|" * len(_COLUMNS)]
            for method in dict.fromkeys(r["method"] for r in group):
                rs = [r for r in group if r["method"] == method and r["best"]]
                if not rs:
                    notes = "; ".join(sorted({r["note"] for r in group if r["method"] == method}))
                    lines.append(f"| {method} | 0 | {notes} |" + " |" * (len(_COLUMNS) - 1))
                    continue
                cells = [_mean_sd([fn(r) for r in rs], spec) for _, spec, fn in _COLUMNS]
                lines.append(f"| {method} | {len(rs)} | " + " | ".join(cells) + " |")
            chart = f"test_pnl_{name}_{cost:g}bps.png"
            if chart in doc["charts"]:
                lines += ["", f"![cumulative test PnL, {name}, {cost:g} bps](results/{chart})"]
            lines += ["", "<details><summary>per run</summary>", "",
                      "| method | seed | evaluations | seconds | sel. Sharpe | test Sharpe net | DSR "
                      "| best alpha |",
                      "|---|---|---|---|---|---|---|---|"]
            for r in group:
                best = r["best"].replace("|", "\\|") if r["best"] else r["note"]
                seed = "-" if r["seed"] is None else r["seed"]
                lines.append(f"| {r['method']} | {seed} | {r['evaluations']} | {r['seconds']:.0f} |"
                             f" {_f(r['select_sharpe'])} | {_f(r['test_net_sharpe'])} | "
                             f"{_f(r['dsr'])} | `{best}` |")
            lines += ["", "</details>", ""]
    if doc["paper"]:
        lines += ["## The paper's own figures on our data", "",
                  "The 101 alphas over each whole panel at 0 bps (definitions in "
                  "`experiments/paper_figures.py`; the paper's numbers are quoted from its abstract).", "",
                  paper_markdown(doc["paper"])]
    lines += ["## Column definitions", "",
              "* *sel. Sharpe*: annualized Sharpe of the train+valid window at the setting's cost (the "
              "selection score); *test Sharpe gross / net*: at 0 bps and at the net cost.",
              "* *# passing checks*: distinct alphas of the run passing the ACE submission checks on the "
              "train split (Sharpe >= 1.25, fitness >= 1, turnover 1-70 %, max weight <= 10 %).",
              "* *selected corr*: mean pairwise correlation of the test PnL of the de-correlated top-k set.",
              "* *DSR best*: deflated Sharpe ratio (Bailey & López de Prado 2014) of the best alpha's "
              "train+valid PnL, given the number of distinct alphas the run tried and the variance of "
              "their Sharpe ratios: the probability that its true Sharpe is above zero after the search.",
              ""]
    return "\n".join(lines)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


if __name__ == "__main__":
    main()
