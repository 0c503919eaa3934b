"""The study's judge: one run's pool and best single alpha on the test split, and the target check.

:func:`judge` turns a :class:`~alpha_env.search.study_methods.MethodRun` into the run's JSON-ready summary:

* every distinct alpha the run tried is simulated once at 0 bps (:class:`~alpha_env.search.study.TrialBook`;
  the net figures subtract ``cost · turnover`` from the same backtest);
* the **pool**: the run's final members rebuilt with the run's pool settings, weights fit on train only,
  simulated like any alpha (:func:`~alpha_env.ace.pools.simulate_pool`);
* the **best single alpha**: the tried alpha with the best selection-window (train+valid) Sharpe at the
  net cost;
* per figure, on test: IC, rank IC and ICIR (mean / sd of the daily IC, not annualised) of the signal
  against the 1-day forward return (:func:`~alpha_env.pool.factor_metrics`), Sharpe gross and net,
  turnover, max drawdown; and the deflated Sharpe ratio of the train+valid net PnL counting every distinct
  non-degenerate alpha the run tried (N) with the variance of their train+valid Sharpe ratios;
* the alpha families of the pool (operators and fields of its members) and the learning curve.

:func:`target_check` applies the issue's target to the summaries: a PPO method's pool *meets* it on a
dataset when its mean test rank IC and mean net Sharpe are at least 1.5x the best baseline's (gp, random,
alphagen, alpha101, alpha158 pools; when that baseline is <= 0 the PPO figure must be > 0 and above it) and
its mean DSR is above 0.95; overall "met" when every dataset has a PPO method that meets it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from alpha_env.search.study_methods import MethodRun
    from alpha_env.search.study_setup import StudyJob, StudySettings

__all__ = ["TARGET_RATIO", "TARGET_DSR", "judge", "failed_summary", "families", "signal_figures",
           "target_check"]

TARGET_RATIO = 1.5
"""The PPO pools' test rank IC and net Sharpe must be at least this multiple of the best baseline's."""
TARGET_DSR = 0.95
"""... with a deflated Sharpe ratio above this."""

_NAN = float("nan")


def failed_summary(job: StudyJob, note: str, seconds: float) -> dict[str, Any]:
    """The summary of a run that failed (no figures; ``note`` says why)."""
    return {"dataset": job.dataset, "method": job.method, "seed": job.seed, "evaluations": 0, "distinct": 0,
            "seconds": seconds, "search_seconds": seconds, "evals_per_second": _NAN, "incomplete": False,
            "note": note, "pool": None, "single": None, "curve": [], "families": {}, "test_pnl": {}}


def families(members: list[str], top: int = 8) -> dict[str, list[list[Any]]]:
    """The ``top`` operators and fields of ``members``, ``[[name, count], ...]`` most frequent first, ties
    by name (each counted once per member)."""
    from alpha_env.grammar import parse
    from alpha_env.grammar.ast import Call, Field

    ops: Counter[str] = Counter()
    fields: Counter[str] = Counter()
    for text in members:
        seen_ops: set[str] = set()
        seen_fields: set[str] = set()
        stack = [parse(text)]
        while stack:
            node = stack.pop()
            if isinstance(node, Call):
                seen_ops.add(node.op)
                stack.extend(node.args)
            elif isinstance(node, Field):
                seen_fields.add(node.name)
        ops.update(seen_ops)
        fields.update(seen_fields)
    def ranked(counts: Counter[str]) -> list[list[Any]]:  # ties by name: the same in every process
        return [[k, v] for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]

    return {"operators": ranked(ops), "fields": ranked(fields)}


def signal_figures(signal: np.ndarray, bt: Any, ace: Any, net_cost: float) -> dict[str, float]:
    """Test-split figures of one signal and its backtest (see the module docstring)."""
    from alpha_env.ace.pools import gross_sharpe
    from alpha_env.backtest import window_metrics
    from alpha_env.pool import factor_metrics
    from alpha_env.search.selection import at_cost

    panel = ace.panel
    test = panel.splits["test"]
    fm = factor_metrics(signal, panel.field("close"), {"test": test}, panel.universe,
                        delay=ace.settings.backtest.delay, decay_horizons=(1,))["test"]
    net = window_metrics(at_cost(bt, net_cost), test)
    return {"ic": float(fm["ic"]), "rank_ic": float(fm["rank_ic"]), "icir": float(fm["icir"]),
            "sharpe_gross": float(gross_sharpe(bt, test)), "sharpe_net": float(net["sharpe"]),
            "turnover": float(net["turnover"]), "max_drawdown": float(net["max_drawdown"]),
            "annual_return": float(net["annual_return"])}


def _dsr(pnl: np.ndarray, n_trials: int, trial_sharpes: list[float]) -> float:
    from alpha_env.search.selection import deflated_sharpe_from_pnl

    return float(deflated_sharpe_from_pnl(pnl, n_trials, trial_sharpes))


def judge(job: StudyJob, panel: Any, run: MethodRun, args: StudySettings, seconds: float) -> dict[str, Any]:
    """The run's summary (see the module docstring); ``seconds`` is the job's wall time so far."""
    import time

    from alpha_env.ace import ACE
    from alpha_env.ace.pools import new_pool, simulate_pool
    from alpha_env.search.study_setup import TrialBook, simulation_settings

    t0 = time.perf_counter()
    net_cost = max({float(c) for c in args.costs} | {0.0})
    ace = ACE(panel, simulation_settings(panel, args))
    book = TrialBook(ace, sorted({0.0, net_cost}), args.criterion)
    trials = [book.get(e) for e in run.tried]
    usable = [t for t in trials if not t.degenerate and math.isfinite(t.score(net_cost))]
    sel = book.select
    test = panel.splits["test"]
    per_period = [t.score(net_cost) / math.sqrt(252.0) for t in usable]
    out: dict[str, Any] = {
        "dataset": job.dataset, "method": job.method, "seed": job.seed, "evaluations": run.evaluations,
        "distinct": len(trials), "usable": len(usable), "simulations": book.simulations,
        "search_seconds": run.seconds,
        "evals_per_second": run.evaluations / run.seconds if run.seconds > 0 else _NAN,
        "incomplete": run.incomplete, "note": run.note, "curve": run.curve,
        "pool_settings": {k: v for k, v in dataclasses.asdict(run.pool_settings).items()
                          if not callable(v)},
        "pool": None, "single": None, "families": families(run.members), "test_pnl": {},
    }
    if usable:
        best = max(usable, key=lambda t: (t.score(net_cost), -len(t.expression)))
        result = ace.simulate(best.expression, save=False)
        figures = signal_figures(ace.evaluator.evaluate(best.expression), result.backtest, ace, net_cost)
        out["single"] = {"expression": best.expression, "select_sharpe": best.score(net_cost),
                         "test": figures, "dsr": _dsr(best.pnl(net_cost)[sel], len(usable), per_period)}
        out["test_pnl"]["single"] = best.pnl(net_cost)[test].tolist()
    if run.members:
        settings = dataclasses.replace(run.pool_settings,
                                       capacity=max(run.pool_settings.capacity, len(run.members)))
        pool = new_pool(ace, settings)
        for expr in run.members:
            pool.add(expr, ace.evaluator.evaluate(expr))
        result = simulate_pool(ace, pool)
        bt = result.backtest
        from alpha_env.search.selection import at_cost

        net_pnl = np.asarray(at_cost(bt, net_cost).pnl, dtype=np.float64)
        out["pool"] = {"size": len(pool), "objective_train": float(pool.objective),
                       "members": [{"expression": m.expr, "weight": float(m.weight)} for m in pool.members],
                       "test": signal_figures(pool.combined(), bt, ace, net_cost),
                       "dsr": _dsr(net_pnl[sel], len(usable), per_period)}
        out["test_pnl"]["pool"] = net_pnl[test].tolist()
    if job.method == "alpha101":
        from alpha_env.search.paper_stats import paper_statistics

        out["paper"] = paper_statistics(trials, panel.splits)
    out["judge_seconds"] = time.perf_counter() - t0
    out["seconds"] = seconds + out["judge_seconds"]
    return out


def _mean(runs: list[dict[str, Any]], part: str, key: str) -> float:
    values = [r[part]["test"][key] if key != "dsr" else r[part]["dsr"] for r in runs if r.get(part)]
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else _NAN


def _beats(x: float, baseline: float) -> bool:
    if not math.isfinite(x):
        return False
    if not math.isfinite(baseline):
        return True
    return x >= TARGET_RATIO * baseline if baseline > 0 else (x > 0 and x > baseline)


def target_check(runs: list[dict[str, Any]], datasets: list[str]) -> dict[str, Any]:
    """The issue's target on the pools (see the module docstring): per dataset the best baseline's mean
    test rank IC and net Sharpe, and per PPO method its means, DSR and verdict; ``status`` is ``"met"``
    or ``"not met"``."""
    from alpha_env.search.study_setup import BASELINES, PPO_METHODS

    per: dict[str, Any] = {}
    met_all = bool(datasets)
    for name in datasets:
        mine = [r for r in runs if r["dataset"] == name and not r["note"].startswith("failed")]
        base: dict[str, dict[str, float]] = {}
        for m in BASELINES:
            rs = [r for r in mine if r["method"] == m]
            if rs:
                base[m] = {"rank_ic": _mean(rs, "pool", "rank_ic"),
                           "sharpe_net": _mean(rs, "pool", "sharpe_net")}
        best_ic = max((v["rank_ic"] for v in base.values() if math.isfinite(v["rank_ic"])),
                      default=_NAN)
        best_sr = max((v["sharpe_net"] for v in base.values() if math.isfinite(v["sharpe_net"])),
                      default=_NAN)
        ppo: dict[str, Any] = {}
        for m in PPO_METHODS:
            rs = [r for r in mine if r["method"] == m]
            if not rs:
                continue
            ic, sr = _mean(rs, "pool", "rank_ic"), _mean(rs, "pool", "sharpe_net")
            dsr = _mean(rs, "pool", "dsr")
            ok = (bool(base) and _beats(ic, best_ic) and _beats(sr, best_sr) and math.isfinite(dsr)
                  and dsr > TARGET_DSR and not any(r["incomplete"] for r in rs))
            ppo[m] = {"rank_ic": ic, "sharpe_net": sr, "dsr": dsr, "met": ok}
        dataset_met = any(v["met"] for v in ppo.values())
        met_all = met_all and dataset_met
        per[name] = {"baselines": base, "best_baseline_rank_ic": best_ic,
                     "best_baseline_sharpe_net": best_sr,
                     "ppo": ppo, "met": dataset_met}
    return {"status": "met" if met_all else "not met", "ratio": TARGET_RATIO, "dsr_above": TARGET_DSR,
            "datasets": per}
