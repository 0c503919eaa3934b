"""A stored-alpha look-alike for the dashboard tests (no market data needed)."""

from __future__ import annotations

import hashlib

import numpy as np

from alpha_env.ace import CheckResult, SimulationResult

__all__ = ["make_result", "N_DAYS", "SPLITS"]

N_DAYS = 300
SPLITS = {"train": [0, 180], "valid": [180, 240], "test": [240, N_DAYS]}


def make_result(i: int, *, expression: str | None = None, dataset: str = "ds-a",
                settings: dict | None = None, pnl: np.ndarray | None = None,
                run: str | None = None) -> SimulationResult:
    """A stored-alpha look-alike without market data: Sharpe of split k is ``i / 10 + k``."""
    rng = np.random.default_rng(i)
    pnl = rng.normal(0.0005, 0.01, N_DAYS) if pnl is None else pnl
    metrics = {s: {"sharpe": i / 10 + k, "ic": 0.01 * i, "rank_ic": 0.02, "turnover": 0.2,
                   "fitness": 1.0 + i, "max_drawdown": 0.05, "annual_return": 0.1}
               for k, s in enumerate(["train", "valid", "test", "all"])}
    sharpe = metrics["train"]["sharpe"]
    meta = {"settings": settings or {"delay": 1, "decay": 0, "neutralization": "market", "cost_bps": 5.0},
            "dataset_id": dataset, "code_version": "test", "run_time_s": 0.01, "splits": SPLITS}
    if run:
        meta["run"] = run
    return SimulationResult(
        alpha_id=hashlib.sha1(f"{i}-{expression}-{dataset}".encode()).hexdigest()[:16],
        expression=expression or f"rank(ts_mean(close, {i + 2}))",
        metrics=metrics, yearly={"2010": metrics["all"]}, pnl=pnl, turnover=np.full(N_DAYS, 0.2),
        dates=np.arange("2010-01-01", N_DAYS, dtype="datetime64[D]")[:N_DAYS],
        checks=[CheckResult("sharpe", sharpe, 1.25, sharpe >= 1.25, "train Sharpe"),
                CheckResult("turnover", 0.2, (0.01, 0.7), True, "in band")],
        metadata=meta,
    )
