"""Backtest and ACE speed on a 1,260 x 500 panel.

Run: ``python benchmarks/bench_backtest.py [--quick]``. Prints, side by side in one run:

* the memory floor: one streaming pass that reads signal + returns + universe and writes a (T, N) array
  (``np.add`` into a fresh array, then a mask), i.e. the bytes the backtest must move at least;
* ``run_backtest`` on one thread and on all Numba threads, with its ratio to the floor, plus the
  lazily computed IC / rank IC series (the rank IC both as the engine computes it, ``rank_ic_series``
  with NumPy's SIMD sort, and as the one-kernel ``ic_kernel(..., ranked=True)``) and the metrics per
  split and year; and ``run_backtest`` on a small panel (the RL environment's size, one thread);
* end-to-end ``ACE.simulate()`` calls per second over the 101 alphas of the paper (those that evaluate
  on the panel), with the evaluator cache cold (cleared before each alpha) and warm (second pass).
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from alpha_env.ace import ACE
from alpha_env.backtest import BacktestSettings, run_backtest, split_metrics, yearly_metrics
from alpha_env.backtest.kernels import ic_kernel, ic_kernel_serial, rank_ic_series
from alpha_env.data import synthetic_market
from alpha_env.errors import AlphaEnvError
from alpha_env.evaluate import Evaluator
from alpha_env.grammar import alpha101
from alpha_env.ops.threads import use_parallel


def _times(fn, repeat: int) -> tuple[float, float]:
    """(best, median) wall time of ``repeat`` calls after a warm-up call, in seconds."""
    fn()  # warm-up (compilation, page faults of the first allocation)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.min(times)), float(np.median(times))


def _fmt(bm: tuple[float, float]) -> str:
    return f"{bm[0] * 1e3:6.2f} ms (median {bm[1] * 1e3:6.2f})"


def bench_backtest(T: int, N: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0, 0.02, (T, N))
    signal = rng.normal(size=(T, N))
    signal[rng.random((T, N)) < 0.05] = np.nan
    universe = rng.random((T, N)) > 0.02
    groups = rng.integers(0, 11, N).astype(np.int64)

    def floor() -> None:
        out = np.add(signal, returns)
        out[~universe] = 0.0

    t_floor = _times(floor, repeat)[0]
    threads = numba.get_num_threads()
    print(f"backtest on {T} x {N} ({T * N:,} cells), numba threads available: {threads}; "
          "best of the repeats (median in brackets)")
    print(f"  memory floor (read signal+returns+universe, write T x N)  {t_floor * 1e3:7.2f} ms")
    cases = [
        ("market, truncation 0.1", BacktestSettings()),
        ("sector, decay 5, cost 5 bps", BacktestSettings(neutralization="sector", decay=5, cost_bps=5)),
        ("none, delay 0, truncation 0.01", BacktestSettings(neutralization="none", delay=0, truncation=0.01)),
    ]
    for label, settings in cases:
        row = []
        for par in (False, True) if threads > 1 else (False,):
            def run(s=settings, p=par):
                return run_backtest(signal, returns, universe, groups, s, parallel=p)

            t = _times(run, repeat)
            row.append(f"{threads if par else 1} thr {_fmt(t)} ({t[0] / t_floor:4.1f}x floor)")
        print(f"  run_backtest [{label:31s}]  " + "   ".join(row))
    res = run_backtest(signal, returns, universe, groups, BacktestSettings())
    splits = {"train": slice(0, int(T * 0.6)), "valid": slice(int(T * 0.6), int(T * 0.8)),
              "test": slice(int(T * 0.8), T)}
    dates = np.arange("2013-01-01", T, dtype="datetime64[D]")[:T]

    def metrics() -> None:
        r = run_backtest(signal, returns, universe, groups, BacktestSettings())
        split_metrics(r, splits)
        yearly_metrics(r, dates)

    par = use_parallel(T * N)  # what auto mode runs
    ic = ic_kernel if par else ic_kernel_serial
    t_ic = _times(lambda: ic(signal, returns, universe, 0, 1, False), repeat)
    t_ric = _times(lambda: rank_ic_series(signal, returns, universe, 0, 1, par), repeat)
    t_ric_kernel = _times(lambda: ic(signal, returns, universe, 0, 1, True), max(3, repeat // 5))
    t_all = _times(metrics, repeat)
    print(f"  IC series {_fmt(t_ic)}; rank IC series {_fmt(t_ric)} "
          f"(one-kernel ic_kernel(ranked=True) {_fmt(t_ric_kernel)})")
    print(f"  backtest + all metrics (splits, years, IC, rank IC) {_fmt(t_all)}")
    Ts, Ns = 252, 100  # an RL-environment-sized panel: auto mode runs the one-thread kernels
    small = (signal[:Ts, :Ns].copy(), returns[:Ts, :Ns].copy(), universe[:Ts, :Ns].copy(), groups[:Ns].copy())
    t_small = _times(lambda: run_backtest(*small, BacktestSettings()), repeat * 10)
    t_small_m = _times(lambda: split_metrics(run_backtest(*small, BacktestSettings()), {}), repeat * 10)
    print(f"  small panel {Ts} x {Ns}: run_backtest {t_small[0] * 1e6:7.1f} us (median "
          f"{t_small[1] * 1e6:7.1f}), with all-period metrics incl. rank IC {t_small_m[0] * 1e6:7.1f} us")
    assert res.degenerate_reason is None


def bench_simulate(T: int, N: int, quick: bool) -> None:
    panel = synthetic_market(seed=0, n_stocks=N, n_days=T, news=False)
    alphas = [a.text for a in alpha101()]
    if quick:
        alphas = alphas[:20]
    evaluator = Evaluator(panel)
    ok: list[str] = []
    failed = 0
    t0 = time.perf_counter()
    ace = ACE(panel, evaluator=evaluator)
    for text in alphas:  # first pass also compiles every kernel once: not timed below
        try:
            ace.simulate(text)
            ok.append(text)
        except AlphaEnvError:
            failed += 1
    t_first = time.perf_counter() - t0
    print(f"ACE.simulate on synthetic {T} x {N}: {len(ok)} of {len(alphas)} paper alphas evaluate "
          f"({failed} need fields/groups the panel lacks); first pass incl. compilation {t_first:.1f} s")
    for rank_ic in (True, False):
        ace = ACE(panel, evaluator=evaluator, rank_ic=rank_ic)
        cold = []
        for text in ok:
            evaluator.clear_cache()
            t0 = time.perf_counter()
            ace.simulate(text)
            cold.append(time.perf_counter() - t0)
        warm = []
        for text in ok:
            t0 = time.perf_counter()
            ace.simulate(text)
            warm.append(time.perf_counter() - t0)
        label = "with rank IC   " if rank_ic else "without rank IC"
        print(f"  {label}: cache cold {len(ok) / sum(cold):6.1f} simulate/s (median "
              f"{np.median(cold) * 1e3:6.1f} ms), warm {len(ok) / sum(warm):6.1f} simulate/s (median "
              f"{np.median(warm) * 1e3:6.1f} ms), warm/cold {sum(cold) / sum(warm):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and 20 alphas")
    parser.add_argument("--days", type=int, default=1260)
    parser.add_argument("--stocks", type=int, default=500)
    args = parser.parse_args()
    bench_backtest(args.days, args.stocks, 5 if args.quick else 30)
    bench_simulate(args.days, args.stocks, args.quick)


if __name__ == "__main__":
    main()
