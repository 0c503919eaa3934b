"""Operators that apply the 10-digit tie rule, on prices and on differences of cent prices, one thread.

Differences of prices quoted in cents (``close - open``, ``delta(close, 3)``) hold many values equal at
10 significant digits but not bit for bit (``0.37000000000000455`` and ``0.3699999999999992``), so every
pass that applies ``rank``'s tie rule (``alpha_env.ops.sortkeys.SIG_DIGITS``) meets near values on most
days. Prints, for each operator, its time on ``close`` and on ``close - open`` (best of ``--repeat``) and
the ratio; then the ACE's rank IC and Pearson IC of all days for a price-level and a cent-difference
signal, and the 101 alphas with a fresh evaluator (best of ``--rounds``).

Before/after: run it with ``PYTHONPATH=<checkout>`` for each checkout, alternated (docs/ops.md, session
20). Uses ``sp500_2013_2018`` (``--data``); without it, the synthetic market with its prices rounded to
cents.

Run: ``NUMBA_NUM_THREADS=1 python benchmarks/bench_cent_differences.py [--repeat 10] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best_ms(fn: Callable[..., object], repeat: int, *args: object) -> float:
    """Best wall time of ``repeat`` calls ``fn(*args)``, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def load(data: Path):
    """The benchmark's panel: the real data set, or the synthetic market with cent prices."""
    from alpha_env.data import load_panel, synthetic_market

    if data.exists():
        return load_panel(data), data.name
    return synthetic_market(seed=0), "synthetic market (the operator rows round its prices to cents)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sp500_2013_2018")
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per operator (best is kept)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh-evaluator runs of the 101 alphas")
    args = parser.parse_args()

    from alpha_env.backtest.return_ranks import ReturnRanks
    from alpha_env.errors import AlphaEnvError
    from alpha_env.evaluate import Evaluator
    from alpha_env.grammar import alpha101
    from alpha_env.ops import KERNELS

    panel, label = load(args.data)
    close = np.ascontiguousarray(panel.field("close"))
    open_ = np.ascontiguousarray(panel.field("open"))
    if label.startswith("synthetic"):
        close, open_ = np.round(close, 2), np.round(open_, 2)
    volume = np.ascontiguousarray(panel.field("volume"))
    sector = np.asarray(panel.group(panel.group_names[1] if len(panel.group_names) > 1 else "market"))
    T, N = close.shape
    reward_rows = min(T, 756)  # the env's reward reads the train window's dates: the time-series calls
    print(f"tie-rule operators on {label} ({T} x {N}; time-series calls on the first {reward_rows} dates), "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}, best of {args.repeat}")
    price = {"full": close, "rows": np.ascontiguousarray(close[:reward_rows])}
    diff = np.ascontiguousarray(close - open_)
    cents = {"full": diff, "rows": np.ascontiguousarray(diff[:reward_rows])}
    vol_rows = np.ascontiguousarray(volume[:reward_rows])
    calls: list[tuple[str, str, Callable[[np.ndarray], object]]] = [
        ("rank(x)", "full", lambda x: KERNELS["rank"](x)),
        ("group_rank(x, sector)", "full", lambda x: KERNELS["group_rank"](x, sector)),
        ("ts_rank(x, 20)", "rows", lambda x: KERNELS["ts_rank"](x, 20)),
        ("ts_rank(x, 60)", "rows", lambda x: KERNELS["ts_rank"](x, 60)),
        ("correlation(x, volume, 10)", "rows", lambda x: KERNELS["correlation"](x, vol_rows, 10)),
        ("covariance(x, volume, 20)", "rows", lambda x: KERNELS["covariance"](x, vol_rows, 20)),
        ("stddev(x, 10)", "rows", lambda x: KERNELS["stddev"](x, 10)),
        ("ts_argmax(x, 10)", "rows", lambda x: KERNELS["ts_argmax"](x, 10)),
    ]
    print(f"{'operator':30s} {'x = close':>12s} {'x = close - open':>18s} {'ratio':>7s}")
    for name, rows, fn in calls:
        a, b = price[rows], cents[rows]
        fn(a), fn(b)  # compiled or loaded before timing
        ta, tb = best_ms(fn, args.repeat, a), best_ms(fn, args.repeat, b)
        print(f"{name:30s} {ta:9.2f} ms {tb:15.2f} ms {tb / ta:6.2f}x")

    print("\nthe rank IC and Pearson IC of all days (ReturnRanks.rank_ic_and_ic, delay 1, no decay):")
    ranks = ReturnRanks(np.ascontiguousarray(panel.field("returns")), np.asarray(panel.universe), lag=2)
    evaluator = Evaluator(panel)
    for expr in ("close", "-delta(close, 3)", "(close - open) / ((high - low) + .001)"):
        signal = np.ascontiguousarray(evaluator.evaluate(expr))
        ranks.rank_ic_and_ic(signal, 0)
        print(f"  {expr:40s} {best_ms(ranks.rank_ic_and_ic, args.repeat, signal, 0):7.2f} ms")

    texts = [a.text for a in alpha101()]

    def all_101() -> None:
        ev = Evaluator(panel)
        for text in texts:
            try:
                ev.evaluate(text)
            except AlphaEnvError:  # an alpha this panel cannot evaluate (a field it lacks) is skipped
                pass

    all_101()
    t = best_ms(all_101, args.rounds) / 1e3
    print(f"\nthe 101 alphas, a fresh evaluator each time (best of {args.rounds}): {t:.3f} s")


if __name__ == "__main__":
    sys.exit(main())
