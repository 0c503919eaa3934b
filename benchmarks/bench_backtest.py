"""Backtest and ACE speed on a 1,260 x 500 panel.

Run: ``python benchmarks/bench_backtest.py [--quick]``. Prints, side by side in one run:

* the memory floor: one streaming pass that reads signal + returns + universe and writes a (T, N) array
  (``np.add`` into a fresh array, then a mask), i.e. the bytes the backtest must move at least;
* ``run_backtest`` on one thread and on all Numba threads, with its ratio to the floor, plus the
  lazily computed IC / rank IC series and the metrics per split and year;
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
from alpha_env.backtest.engine import PARALLEL_MIN_THREADS
from alpha_env.backtest.kernels import ic_kernel, ic_kernel_serial
from alpha_env.data import synthetic_market
from alpha_env.errors import AlphaEnvError
from alpha_env.evaluate import Evaluator
from alpha_env.grammar import alpha101


def _median_time(fn, repeat: int) -> float:
    fn()  # warm-up (compilation, page faults of the first allocation)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


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

    t_floor = _median_time(floor, repeat)
    threads = numba.get_num_threads()
    print(f"backtest on {T} x {N} ({T * N:,} cells), numba threads available: {threads}")
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

            t = _median_time(run, repeat)
            row.append(f"{threads if par else 1} thr {t * 1e3:6.2f} ms ({t / t_floor:4.1f}x floor)")
        print(f"  run_backtest [{label:31s}]  " + "   ".join(row))
    res = run_backtest(signal, returns, universe, groups, BacktestSettings())
    splits = {"train": slice(0, int(T * 0.6)), "valid": slice(int(T * 0.6), int(T * 0.8)),
              "test": slice(int(T * 0.8), T)}
    dates = np.arange("2013-01-01", T, dtype="datetime64[D]")[:T]

    def metrics() -> None:
        r = run_backtest(signal, returns, universe, groups, BacktestSettings())
        split_metrics(r, splits)
        yearly_metrics(r, dates)

    ic = ic_kernel if threads >= PARALLEL_MIN_THREADS else ic_kernel_serial  # what auto mode runs
    t_ic = _median_time(lambda: ic(signal, returns, universe, 0, 1, False), repeat)
    t_ric = _median_time(lambda: ic(signal, returns, universe, 0, 1, True), repeat)
    t_all = _median_time(metrics, repeat)
    print(f"  IC series {t_ic * 1e3:6.2f} ms, rank IC series {t_ric * 1e3:6.2f} ms; "
          f"backtest + all metrics (splits, years, IC, rank IC) {t_all * 1e3:6.2f} ms")
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
