"""Data package figures: load times of the real datasets and the synthetic market, and the panel layout.

Run: ``python benchmarks/bench_data.py [--repeat 3]``. Prints a table; real datasets are skipped when
``../shared/data`` is absent.

Layout measurement: the same two kernels (a 20-day time-series rolling mean and a cross-sectional
demean) written as plain Numba loops, each run over the panel stored ``(T, N)`` C-order (the contract)
and ``(N, T)`` C-order, best of ``repeat`` runs, on a 2,000 × 1,000 panel.

News hashing: the torch-free document embedding (64-dimensional signed hashed bags of words) of every
news text of ``us_2006_2013``, one word and one ``+=`` at a time (the implementation until session 14,
written here) against :func:`alpha_env.env.hashed_bags_of_words` (each distinct word hashed once per
call), in one process, with the two matrices checked equal bit for bit.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numba import njit

from alpha_env.data import check_dataset, load_panel, synthetic_market

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@njit(cache=True)
def ts_mean_tn(x, w):  # (T, N): time outer, stocks inner, running sums per stock
    t_n, n = x.shape
    out = np.full((t_n, n), np.nan)
    acc = np.zeros(n)
    for t in range(t_n):
        for i in range(n):
            acc[i] += x[t, i]
            if t >= w:
                acc[i] -= x[t - w, i]
            if t >= w - 1:
                out[t, i] = acc[i] / w
    return out


@njit(cache=True)
def ts_mean_nt(x, w):  # (N, T): one stock's series contiguous
    n, t_n = x.shape
    out = np.full((n, t_n), np.nan)
    for i in range(n):
        acc = 0.0
        for t in range(t_n):
            acc += x[i, t]
            if t >= w:
                acc -= x[i, t - w]
            if t >= w - 1:
                out[i, t] = acc / w
    return out


@njit(cache=True)
def demean_tn(x):  # (T, N): a day's cross-section is one contiguous row
    t_n, n = x.shape
    out = np.empty((t_n, n))
    for t in range(t_n):
        s = 0.0
        for i in range(n):
            s += x[t, i]
        m = s / n
        for i in range(n):
            out[t, i] = x[t, i] - m
    return out


@njit(cache=True)
def demean_nt(x):  # (N, T): a day's cross-section is strided
    n, t_n = x.shape
    out = np.empty((n, t_n))
    for t in range(t_n):
        s = 0.0
        for i in range(n):
            s += x[i, t]
        m = s / n
        for i in range(n):
            out[i, t] = x[i, t] - m
    return out


def layout(repeat: int, t_n: int = 2000, n: int = 1000) -> list[tuple[str, float, float]]:
    """(kernel, seconds on (T, N), seconds on (N, T))."""
    x_tn = np.random.default_rng(0).normal(size=(t_n, n))
    x_nt = np.ascontiguousarray(x_tn.T)
    for f, a in ((ts_mean_tn, x_tn), (ts_mean_nt, x_nt)):
        f(a, 20)
    demean_tn(x_tn)
    demean_nt(x_nt)
    return [
        ("ts_mean(x, 20)", best_of(lambda: ts_mean_tn(x_tn, 20), repeat),
         best_of(lambda: ts_mean_nt(x_nt, 20), repeat)),
        ("cross-sectional demean", best_of(lambda: demean_tn(x_tn), repeat),
         best_of(lambda: demean_nt(x_nt), repeat)),
    ]


def news_hashing(repeat: int) -> None:
    from alpha_env.env import hashed_bags_of_words

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from env_support import hashed_one_word_at_a_time  # the definition, one word at a time

    path = DATA / "us_2006_2013"
    if not path.exists():
        print(f"== news hashing: skipped ({path} absent) ==")
        return
    panel = load_panel(path)
    texts = [panel.documents.text(i) for i in range(len(panel.documents))]
    t0 = time.perf_counter()
    ref = np.vstack([hashed_one_word_at_a_time(t, 64) for t in texts])
    t_ref = time.perf_counter() - t0
    new = hashed_bags_of_words(texts, 64)
    t_new = best_of(lambda: hashed_bags_of_words(texts, 64), repeat)
    same = np.array_equal(ref, new) and np.array_equal(np.signbit(ref), np.signbit(new))
    print(f"== news hashing: {len(texts):,} us_2006_2013 texts, dim 64 ==")
    print(f"  one word at a time (until session 14) : {t_ref:6.2f} s")
    print(f"  hashed_bags_of_words (best of {repeat})     : {t_new:6.2f} s  ({t_ref / t_new:.1f}x, "
          f"{'same bits' if same else 'DIFFERENT BITS'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"== load times (best of {args.repeat}) ==")
    synthetic_market(0)
    t_syn = best_of(lambda: synthetic_market(0), args.repeat)
    print(f"  synthetic_market(0) 100 x 1000 with news : {t_syn:6.3f} s")
    print(f"  synthetic_market(0, news=False)          : "
          f"{best_of(lambda: synthetic_market(0, news=False), args.repeat):6.3f} s")
    for name in ("sp500_2013_2018", "us_2006_2013"):
        path = DATA / name
        if not path.exists():
            print(f"  {name}: skipped ({path} absent)")
            continue
        t = best_of(lambda p=path: load_panel(p), args.repeat)
        p = load_panel(path)
        print(f"  load_panel({name}) {p.n_dates} x {p.n_stocks}"
              f"{f' + {len(p.documents)} news' if p.documents is not None else ''}: {t:6.3f} s")
        print(f"  check_dataset({name})                  : "
              f"{best_of(lambda p=path: check_dataset(p), 1):6.3f} s")
    news_hashing(args.repeat)
    print(f"== layout: 2000 dates x 1000 stocks, Numba loops, best of {args.repeat} ==")
    print(f"  {'kernel':<24} {'(T,N) C':>10} {'(N,T) C':>10} {'(N,T)/(T,N)':>12}")
    for kernel, a, b in layout(args.repeat):
        print(f"  {kernel:<24} {a * 1e3:8.2f}ms {b * 1e3:8.2f}ms {b / a:11.2f}x")


if __name__ == "__main__":
    main()
