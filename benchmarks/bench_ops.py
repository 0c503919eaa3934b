"""Speed of the operator library and the evaluator, measured side by side in one run.

Prints, on a 1,260 x 500 float64 panel (the seeded synthetic market, plus a ``shares`` field so that
Alpha#56's ``cap`` exists):

1. Numba cold and warm import + compile time of every kernel (fresh processes, empty vs filled cache).
2. The memory floor: the time to copy one field.
3. Each operator: our time, its multiple of the floor, the pandas/numpy reference time, the ratio.
4. The 101 alphas: evaluations per second with no cache, with a warm cache, and with the pandas
   reference evaluator (``tests/test_evaluate_reference.reference_evaluate`` over vectorized pandas
   operators), and how many results agree.

Run: ``python benchmarks/bench_ops.py [--repeat 5] [--skip-pandas-suite] [--skip-compile]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_evaluate_reference import reference_evaluate  # noqa: E402
from test_ops_reference import REFERENCE  # noqa: E402

from alpha_env.data import synthetic_market  # noqa: E402
from alpha_env.evaluate import Evaluator  # noqa: E402
from alpha_env.grammar import alpha101  # noqa: E402
from alpha_env.ops import KERNELS  # noqa: E402

__all__ = ["PANDAS", "main"]

T, N, WINDOW = 1260, 500, 10


# ----------------------------------------------------------------------------------------------
# vectorized pandas/numpy baseline (what a careful pandas user writes)
# ----------------------------------------------------------------------------------------------
def _windows(x: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    w = sliding_window_view(x, d, axis=0)  # (T-d+1, N, d)
    return w, np.isnan(w).any(axis=2)


def _pad(x: np.ndarray, body: np.ndarray, bad: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    out[x.shape[0] - body.shape[0]:] = np.where(bad, np.nan, body)
    return out


def _argext(x: np.ndarray, d: int, fn: Callable) -> np.ndarray:
    if d > x.shape[0]:
        return np.full(x.shape, np.nan)
    w, bad = _windows(x, d)
    return _pad(x, fn(np.nan_to_num(w), axis=2) + 1.0, bad)


def _prod(x: np.ndarray, d: int) -> np.ndarray:
    if d > x.shape[0]:
        return np.full(x.shape, np.nan)
    w, bad = _windows(x, d)
    with np.errstate(all="ignore"):
        out = _pad(x, np.prod(w, axis=2), bad)
    out[~np.isfinite(out)] = np.nan
    return out


def _decay(x: np.ndarray, d: int) -> np.ndarray:
    df = pd.DataFrame(x)
    acc = sum((d - k) * df.shift(k) for k in range(d))
    return (acc / (d * (d + 1) / 2)).to_numpy()


def _constant(x: pd.DataFrame, d: int) -> pd.DataFrame:
    r = x.rolling(d)
    return r.max() == r.min()


def _corr(x: np.ndarray, y: np.ndarray, d: int) -> np.ndarray:
    a, b = pd.DataFrame(x), pd.DataFrame(y)
    out = a.rolling(d).corr(b)
    out = out.where(~(_constant(a, d) | _constant(b, d)))
    return out.clip(-1, 1).to_numpy()


def _cov(x: np.ndarray, y: np.ndarray, d: int) -> np.ndarray:
    a, b = pd.DataFrame(x), pd.DataFrame(y)
    out = a.rolling(d).cov(b)
    return out.mask((_constant(a, d) | _constant(b, d)) & out.notna(), 0.0).to_numpy()


def _std(x: np.ndarray, d: int) -> np.ndarray:
    return pd.DataFrame(x).rolling(d).std().to_numpy()


def _tszscore(x: np.ndarray, d: int) -> np.ndarray:
    df = pd.DataFrame(x)
    r = df.rolling(d)
    sd = r.std()
    return ((df - r.mean()) / sd.where(sd > 0)).to_numpy()


PANDAS: dict[str, Callable[..., np.ndarray]] = dict(
    REFERENCE,
    correlation=_corr,
    covariance=_cov,
    stddev=_std,
    ts_zscore=_tszscore,
    ts_skewness=lambda x, d: pd.DataFrame(x).rolling(d).skew().to_numpy(),
    ts_kurtosis=lambda x, d: pd.DataFrame(x).rolling(d).kurt().to_numpy(),
    ts_argmax=lambda x, d: _argext(x, d, np.argmax),
    ts_argmin=lambda x, d: _argext(x, d, np.argmin),
    product=_prod,
    decay_linear=_decay,
)
"""Operator table of the pandas baseline: the test references, vectorized where they loop in Python."""


# ----------------------------------------------------------------------------------------------
def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls after one warm-up call, in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


_COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
from alpha_env.ops import KERNELS
x = np.random.default_rng(0).standard_normal((30, 9)); g = np.arange(9) % 3
for name, fn in KERNELS.items():
    if name in ("correlation", "covariance"): fn(x, x, 3)
    elif name in ("indneutralize", "group_rank", "group_mean", "group_zscore"): fn(x, g)
    elif name == "if_else": fn(x, x, x)
    elif name == "scale": fn(x, 1.0)
    elif name == "ts_quantile": fn(x, 3, 0.5)
    elif name in ("rank", "zscore", "neg", "not", "abs", "log", "sign", "sqrt", "vec_avg"): fn(x)
    elif name in ("add sub mul div pow lt le gt ge eq ne or and signedpower max min".split()): fn(x, x)
    else: fn(x, 3)
print(time.perf_counter() - t0)
"""


def compile_times() -> tuple[float, float]:
    """(cold, warm) seconds to import ``alpha_env.ops`` and run every kernel once in a new process."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):
            res = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], env=env, cwd=ROOT,
                                 capture_output=True, text=True, check=True)
            runs.append(float(res.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


def operator_args(name: str, x: np.ndarray, y: np.ndarray, g: np.ndarray) -> tuple:
    """Representative arguments of each operator (window 10, constants as floats)."""
    if name in ("correlation", "covariance"):
        return (x, y, WINDOW)
    if name in ("indneutralize", "group_rank", "group_mean", "group_zscore"):
        return (x, g)
    if name == "if_else":
        return (y, x, -x)
    if name == "scale":
        return (x, 1.0)
    if name == "ts_quantile":
        return (x, WINDOW, 0.8)
    if name in ("rank", "zscore", "neg", "not", "abs", "log", "sign", "sqrt", "vec_avg"):
        return (x,)
    if name in ("pow", "signedpower"):
        return (y, 2.0)
    if name in "add sub mul div lt le gt ge eq ne or and max min".split():
        return (x, y)
    return (x, WINDOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per measurement (best is kept)")
    parser.add_argument("--skip-pandas-suite", action="store_true", help="skip the pandas 101-alpha baseline")
    parser.add_argument("--skip-compile", action="store_true",
                        help="skip the cold/warm compile timing (two fresh processes, ~2 minutes)")
    args = parser.parse_args()

    import numba

    print(f"numba {numba.__version__}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"numba threads {numba.get_num_threads()} (set NUMBA_NUM_THREADS to change), "
          f"cpus {os.cpu_count()}")
    if not args.skip_compile:
        cold, warm = compile_times()
        print(f"import + compile of all kernels: cold {cold:.1f} s, warm (cache=True) {warm:.2f} s")

    panel = synthetic_market(seed=0, n_stocks=N, n_days=T, news=False)
    shares = np.random.default_rng(1).uniform(1e8, 1e9, N)[None, :].repeat(T, axis=0)
    panel = panel.with_fields({"shares": shares})
    x = np.array(panel.field("close"))
    y = np.array(panel.field("returns"))
    g = np.array(panel.group("industry"))
    floor = best_time(lambda: x.copy(), args.repeat * 4)
    print(f"panel {T} x {N} float64 ({x.nbytes / 2**20:.1f} MiB); memory floor (copy one field): "
          f"{floor * 1e3:.3f} ms\n")

    print(f"{'operator':<14}{'ours ms':>9}{'x floor':>9}{'pandas ms':>11}{'speed-up':>10}")
    for name in KERNELS:
        a = operator_args(name, x, y, g)
        ours = best_time(lambda f=KERNELS[name], a=a: f(*a), args.repeat)
        ref = best_time(lambda f=PANDAS[name], a=a: f(*a), 1 if name in ("ts_rank",) else 2)
        print(f"{name:<14}{ours * 1e3:>9.2f}{ours / floor:>9.1f}{ref * 1e3:>11.2f}{ref / ours:>9.1f}x")

    alphas = alpha101()
    print(f"\nthe {len(alphas)} alphas of '101 Formulaic Alphas' on the same panel:")
    no_cache = Evaluator(panel, cache_bytes=0)
    t0 = time.perf_counter()
    ours = {a.number: no_cache.evaluate(a.expr) for a in alphas}
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for a in alphas:
        no_cache.evaluate(a.expr)
    t_nocache = time.perf_counter() - t0
    cached = Evaluator(panel, cache_bytes=8 * 2**30)
    for a in alphas:
        cached.evaluate(a.expr)
    fill = cached.cache_stats()
    t0 = time.perf_counter()
    for a in alphas:
        cached.evaluate(a.expr)
    t_warm = time.perf_counter() - t0
    print(f"  ours, no cache      {t_nocache:8.2f} s  {len(alphas) / t_nocache:10.1f} alphas/s  "
          f"(first pass incl. any compile {t_cold:.2f} s)")
    print(f"  ours, warm cache    {t_warm:8.4f} s  {len(alphas) / t_warm:10.1f} alphas/s  "
          f"(cache after the filling pass: {fill.entries} entries, {fill.bytes / 2**20:.0f} MiB, "
          f"{fill.hits} hits while filling = shared sub-expressions)")
    if args.skip_pandas_suite:
        return
    t0 = time.perf_counter()
    agree = 0
    for a in alphas:
        ref = reference_evaluate(a.expr, panel, PANDAS)
        mine = ours[a.number]
        same = np.isnan(ref) == np.isnan(mine)
        close = np.isclose(ref, mine, rtol=1e-6, atol=1e-9, equal_nan=True)
        agree += bool(same.mean() > 0.99 and close.mean() > 0.99)
    t_pd = time.perf_counter() - t0
    print(f"  pandas reference    {t_pd:8.2f} s  {len(alphas) / t_pd:10.2f} alphas/s")
    print(f"  speed-up vs pandas: no cache {t_pd / t_nocache:.1f}x, warm cache {t_pd / t_warm:.0f}x; "
          f"{agree}/{len(alphas)} alphas agree with the pandas baseline on > 99% of cells")


if __name__ == "__main__":
    main()
