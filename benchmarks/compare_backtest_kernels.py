"""Backtest kernels of this tree against those of an earlier commit, side by side in one process.

Run: ``python benchmarks/compare_backtest_kernels.py [--ref COMMIT] [--quick]`` (default ref ``e5fa3ab``,
the last commit with hand-written one-thread twins). The old ``alpha_env/backtest/kernels.py`` is read
with ``git show`` into a temporary module; both versions run on the same inputs, interleaved. Prints:
that books, PnL, turnover and counts are bit-identical on the 101 alphas of ``synthetic_market(seed=0)``
(the Pearson IC may only gain days where the old kernel's sums overflowed to NaN), and the best time of
each kernel, old and new, with their ratio (1,260 x 500 and 250 x 100 panels, one thread and parallel).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from alpha_env.backtest import kernels as new
from alpha_env.backtest.engine import _group_codes
from alpha_env.backtest.settings import BacktestSettings

ROOT = Path(__file__).resolve().parents[1]


def _old_kernels(ref: str):
    text = subprocess.run(["git", "show", f"{ref}:alpha_env/backtest/kernels.py"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="old_backtest_kernels_"))
    path = folder / "old_backtest_kernels.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_backtest_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

CASES = (
    ("market, truncation 0.1", BacktestSettings()),
    ("sector, decay 5", BacktestSettings(neutralization="sector", decay=5, cost_bps=5)),
    ("none, delay 0, trunc 0.01", BacktestSettings(neutralization="none", delay=0, truncation=0.01)),
)


def _equal(a: tuple, b: tuple) -> bool:
    return all(x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def _race(f_old, f_new, args: tuple, repeat: int) -> tuple[float, float]:
    """Best wall times (s) of ``repeat`` interleaved calls of the old and the new kernel."""
    f_old(*args)
    f_new(*args)
    t_old, t_new = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f_old(*args)
        t_old.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        f_new(*args)
        t_new.append(time.perf_counter() - t0)
    return min(t_old), min(t_new)


def _line(label: str, times: tuple[float, float]) -> str:
    return (f"  {label:46s} old {times[0] * 1e3:8.2f} ms   new {times[1] * 1e3:8.2f} ms   "
            f"new/old {times[1] / times[0]:.3f}   bit-identical")


def bench(old, T: int, N: int, repeat: int) -> None:
    """Time old and new kernels on a random ``(T, N)`` panel (5 % NaN signal, 2 % out of universe)."""
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0, 0.02, (T, N))
    signal = rng.normal(size=(T, N))
    signal[rng.random((T, N)) < 0.05] = np.nan
    universe = rng.random((T, N)) > 0.02
    groups = rng.integers(0, 11, N).astype(np.int64)
    threads = numba.get_num_threads()
    print(f"{T} x {N}:")
    for label, s in CASES:
        codes, n_groups = _group_codes(groups, N, s)
        for par in (False, True):
            chunks = max(1, min(T, 4 * threads)) if par else 1
            args = (signal, returns, universe, codes, n_groups, s.neutralization != "none", s.decay,
                    s.delay, s.truncation, s.min_stocks, chunks)
            name = "backtest_kernel" if par else "backtest_kernel_serial"
            f_old, f_new = getattr(old, name), getattr(new, name)
            assert _equal(f_old(*args), f_new(*args)), (label, par)
            print(_line(f"{name} [{label}]", _race(f_old, f_new, args, repeat)))
    for par in (False, True):
        name = "ic_kernel" if par else "ic_kernel_serial"
        for ranked in (False, True):
            args = (signal, returns, universe, 3, 1, ranked)
            f_old, f_new = getattr(old, name), getattr(new, name)
            assert np.array_equal(f_old(*args), f_new(*args), equal_nan=True)
            print(_line(f"{name} ranked={ranked}", _race(f_old, f_new, args, max(3, repeat // 3))))
        args = (signal, returns, universe, 3, 1, par)
        assert np.array_equal(old.rank_ic_series(*args), new.rank_ic_series(*args), equal_nan=True)
        print(_line(f"rank_ic_series parallel={par}", _race(old.rank_ic_series, new.rank_ic_series, args,
                                                             repeat)))


def alpha101_identity(old) -> None:
    """Books, PnL, turnover and counts of every paper alpha on ``synthetic_market(seed=0)``: old == new."""
    from alpha_env.data import synthetic_market
    from alpha_env.errors import AlphaEnvError
    from alpha_env.evaluate import Evaluator
    from alpha_env.grammar import alpha101

    panel = synthetic_market(seed=0)
    evaluator = Evaluator(panel)
    ret = np.ascontiguousarray(panel.field("returns"))
    uni = np.ascontiguousarray(panel.universe)
    evaluated = 0
    for entry in alpha101():
        try:
            sig = np.ascontiguousarray(evaluator.evaluate(entry.expr), dtype=np.float64)
        except AlphaEnvError:
            continue
        evaluated += 1
        for s in (BacktestSettings(), BacktestSettings(neutralization="none", decay=4, truncation=0.0)):
            codes, n_groups = _group_codes(None, sig.shape[1], s)
            args = (sig, ret, uni, codes, n_groups, s.neutralization != "none", s.decay, s.delay,
                    s.truncation, s.min_stocks, 1)
            assert _equal(old.backtest_kernel_serial(*args), new.backtest_kernel_serial(*args)), entry.number
            a = old.ic_kernel_serial(sig, ret, uni, s.decay, s.delay, False)
            b = new.ic_kernel_serial(sig, ret, uni, s.decay, s.delay, False)
            diff = ~((a == b) | (np.isnan(a) & np.isnan(b)))
            assert np.isnan(a[diff]).all() and np.isfinite(b[diff]).all(), entry.number
            if diff.any():
                print(f"  alpha #{entry.number}, decay {s.decay}: Pearson IC defined on {int(diff.sum())} "
                      f"more days (old: NaN, its sums overflowed; max |signal| {np.nanmax(np.abs(sig)):.1e})")
    print(f"101 alphas on synthetic_market(seed=0): {evaluated} evaluate; books, PnL, turnover and counts "
          "bit-identical (two settings)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="e5fa3ab", help="commit holding the old kernels")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    old = _old_kernels(args.ref)
    print(f"old kernels: {args.ref}; numba threads: {numba.get_num_threads()}")
    alpha101_identity(old)
    bench(old, 1260, 500, 5 if args.quick else 15)
    bench(old, 250, 100, 50)


if __name__ == "__main__":
    main()
