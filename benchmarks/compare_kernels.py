"""Kernels of this tree against those of an earlier commit, side by side: cross-sectional and group
statistics, or time-series statistics.

Run: ``python benchmarks/compare_kernels.py [--family cross-section|time-series] [--ref COMMIT] [--repeat
15] [--rounds 2]``. Default refs are the commits before each family took ``rank``'s tie rule (values equal
at 10 significant digits are equal): ``ec3d932`` for ``cross-section`` (``zscore``, the group statistics
and ``group_rank``; session 10) and ``f761c3d`` for ``time-series`` (``stddev``, ``ts_zscore``, the higher
moments, ``correlation``/``covariance`` and the window line statistics decide a constant window by that
rule, ``ts_argmax``/``ts_argmin`` tie by it; session 11; ``ts_max`` shares their kernel). The family's old
modules are read with ``git show`` into temporary modules (they import
this tree's helpers, which kept every name they use); both versions run on the same inputs, one thread,
alternated in ``--rounds`` rounds, best of ``--repeat`` calls each. Inputs: 1,260 x 500 days of real
values, booleans, ``ts_argmax``-like integers (1..5), cent differences and, for the time-series family,
the rounding noise of a constant (``(close + 0.1) - close``); 11 groups; windows of 10 days. The
``comparisons`` family (``lt``, ``le``, ``gt``, ``eq``, ``ne``; ref ``ac4b938``, before they took the tie
rule; session 11) compares pairs: two real panels, cent prices equal on 30% of cells, and ``close * 3 /
3`` against ``close`` (rounding apart on some cells, a near tie on every one). Prints the
times, their ratio, and whether the results are the same bits (they differ only where the values of a
day, group or window are equal at 10 significant digits but not exactly).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before Numba loads

import numpy as np  # noqa: E402

from alpha_env.ops import crosssection, elementwise, group, timeseries, windowstats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10
#: family -> (default ref, {module path: this tree's module}, {operator: (module path, arity)}); arity 1:
#: ``op(x)``, 2: ``op(x, groups)``, 3: ``op(x, d)``, 4: ``op(x, y, d)``, 5: ``op(x, y)`` (the comparisons'
#: inputs are pairs ``(x, y)``).
FAMILIES: dict[str, tuple[str, dict[str, object], dict[str, tuple[str, int]]]] = {
    "cross-section": ("ec3d932",
                      {"alpha_env/ops/crosssection.py": crosssection, "alpha_env/ops/group.py": group},
                      {"zscore": ("alpha_env/ops/crosssection.py", 1),
                       **{op: ("alpha_env/ops/group.py", 2)
                          for op in ("indneutralize", "group_zscore", "group_mean", "group_rank")}}),
    "time-series": ("f761c3d",
                    {"alpha_env/ops/timeseries.py": timeseries, "alpha_env/ops/windowstats.py": windowstats},
                    {**{op: ("alpha_env/ops/timeseries.py", 3)
                        for op in ("stddev", "ts_zscore", "ts_skewness", "ts_kurtosis")},
                     "correlation": ("alpha_env/ops/timeseries.py", 4),
                     "covariance": ("alpha_env/ops/timeseries.py", 4),
                     **{op: ("alpha_env/ops/windowstats.py", 3)
                        for op in ("ts_mad", "ts_slope", "ts_rsquare", "ts_resi")},
                     **{op: ("alpha_env/ops/timeseries.py", 3)
                        for op in ("ts_max", "ts_argmax", "ts_argmin")}}),
    "comparisons": ("ac4b938", {"alpha_env/ops/elementwise.py": elementwise},
                    {op: ("alpha_env/ops/elementwise.py", 5) for op in ("lt", "le", "gt", "eq", "ne")}),
}


def _old_module(ref: str, path: str):
    name = "old_" + Path(path).stem
    text = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="old_kernels_"))
    file = folder / f"{name}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cache needs the module importable by name
    spec.loader.exec_module(module)
    return module


def _inputs(family: str, seed: int = 0, T: int = 1260, N: int = 500) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if family == "comparisons":
        close = rng.uniform(5, 3000, (T, N))
        a, b = np.round(rng.uniform(5, 300, (2, T, N)), 2)
        equal = rng.random((T, N)) < 0.3
        return {"real": rng.normal(size=(2, T, N)), "cents": np.stack([a, np.where(equal, a, b)]),
                "thirds": np.stack([close * 3.0 / 3.0, close])}
    cents = np.round(rng.uniform(5, 300, (T, N)), 2) - np.round(rng.uniform(5, 300, (T, N)), 2)
    days = {"real": rng.normal(size=(T, N)), "boolean": (rng.random((T, N)) > 0.5).astype(float),
            "ints 1..5": rng.integers(1, 6, (T, N)).astype(float), "cents": cents}
    if family == "time-series":
        days["real"] = days["real"].cumsum(axis=0)  # a random walk: windows of a level, as prices are
        close = rng.uniform(5, 3000, (T, N))
        days["noise"] = (close + 0.1) - close
    return days


def _best_ms(fn: Callable[[], np.ndarray], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def _operands(arity: int, x: np.ndarray, groups: np.ndarray, other: np.ndarray) -> tuple:
    if arity == 5:  # a pair of sides, stacked on a new first axis by _inputs
        return (x[0], x[1])
    return {1: (x,), 2: (x, groups), 3: (x, WINDOW), 4: (x, other, WINDOW)}[arity]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="cross-section")
    parser.add_argument("--ref", default=None, help="the commit whose kernels are compared (default: the "
                        "family's, see the module docstring)")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per measurement (best is kept)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds of old and new")
    args = parser.parse_args()
    default_ref, modules, ops = FAMILIES[args.family]
    ref = args.ref or default_ref
    old = {path: _old_module(ref, path) for path in modules}
    groups = np.random.default_rng(1).integers(0, 11, 500).astype(np.int64)
    other = np.random.default_rng(2).normal(size=(1260, 500)).cumsum(axis=0)
    print(f"{args.family} kernels: this tree against {ref}")
    print(f"{'days':<10} {'operator':<14} {'old ms':>8} {'new ms':>8} {'new/old':>8}  same bits")
    for kind, x in _inputs(args.family).items():
        for op, (path, arity) in ops.items():
            operands = _operands(arity, x, groups, other)
            kernels = {"old": getattr(old[path], op), "new": getattr(modules[path], op)}
            calls = {name: (lambda f=kernel, a=operands: f(*a)) for name, kernel in kernels.items()}
            for call in calls.values():
                call()  # compile outside the timing
            times = {name: np.inf for name in calls}
            for _ in range(args.rounds):
                for name, call in calls.items():
                    times[name] = min(times[name], _best_ms(call, args.repeat))
            same = np.array_equal(calls["old"](), calls["new"](), equal_nan=True)
            print(f"{kind:<10} {op:<14} {times['old']:>8.2f} {times['new']:>8.2f} "
                  f"{times['new'] / times['old']:>7.2f}x  {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
