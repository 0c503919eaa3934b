"""Benchmark of the reward path (issue 16, item 1), one process, one Numba thread.

Prints, side by side in one run:

1. ``rank`` and the backtest's rank IC with the 32-bit coarse key sort
   (:func:`alpha_env.ops.sortkeys.sort_key_rows`) vs NumPy's 64-bit row sort (the previous path, patched
   in for the comparison), interleaved, on a 1,260 x 500 panel; then ``rank`` of days of small integers
   (counted) and of real values against its sort path alone;
2. glibc's default allocator settings vs big blocks kept in the heap (``mallopt`` ``M_MMAP_THRESHOLD``
   32 MiB, ``M_TRIM_THRESHOLD`` 256 MiB, which ``alpha_env.evaluate`` set when imported until session 8),
   in fresh processes alternated (a setting cannot be undone): the env's rewarded episodes/s and page
   faults per operator call, and A101's NumPy temporaries;
3. evaluate + backtest cycle times of A101, A1 and AMIX on ``sp500_2013_2018`` (or the synthetic market
   when the data set is absent), ``ACE.simulate`` and ``ACE.score`` vs that cycle, the physical floor
   (a NumPy sum over each field the expression reads), and ``ACE.score(..., rows=R)`` on the train
   window's dates only (the env's reward path) vs the full ``ACE.score``; after the floor, each round
   calls the five others in turn and each figure is its best round, so a ratio compares the same states
   of a noisy machine;
4. env rewarded episodes/s with a masked random agent on ``sp500_2013_2018``, ``us_2006_2013`` and the
   synthetic market,
   with the default single-alpha reward and with the pool reward (no store, as the benchmark's env);
6. the cycles of 3. against a straightforward pandas version and an AlphaGen-style torch version (f64 and
   f32, ``unfold`` windows) of the same expressions, one thread, with ratios to ours and to the floor;
7. the env's reward on the window's dates (``ACE.score(rows=R)``) against the same env forced onto the
   whole panel, in one process, alternated in ``--rounds`` slices (the same episodes' rewards, so the
   ratio is this one change's, measured side by side);
8. the env with the evaluator's all-NaN stop against the same env computing every operator
   (``Evaluator(nan_stop=False)``), in one process, alternated in ``--rounds`` slices;
9. the env with the grammar's memo of stack rows and masks (per stack of abstract values) against the
   same env computing both at every step (``GrammarTables(memo=False)``), alternated the same way;
10. the env whose all-NaN stop knows the calls that their own arguments make all NaN
   (``alpha_env.ops.ALWAYS_NAN``: ``correlation(x, 0.5, d)``, ``stddev(x, 1)``) before computing
   anything, against the same env learning them only by computing them, alternated the same way;
11. the env whose masks refuse calls degenerate whatever the data (``refuse_degenerate``, the default:
   ``correlation(x, 0.5, d)``, ``ts_argmax(x, 1)``, ``group_mean(x, market)``) against the same env with
   the type rules' masks only (round 1's), alternated the same way;
12. the env that asks ``Evaluator.bound`` first (a degenerate verdict from the fields' ranges, without
   evaluating: ``vwap > adv10``, ``sign(volume)``) against the same env evaluating every alpha,
   alternated the same way (the same rewards: ``tests/test_evaluate_bounds.py``);
13. the env whose scores compute the Pearson IC only when the reward is ``ic`` (``ACE.score(...,
   ic=False)``) against the same env computing it for every score, alternated the same way;
14. GP's standard fitness (``ace_fitness``) on a population of random typed individuals: every alpha
   simulated (its ``on_result`` path) against the lean path (bounds first, then ``ACE.score`` on the
   train window's dates), alternated per individual on two ACEs with warm caches of the fields only;
16. the env whose evaluator fuses chains of element-wise operators (:mod:`alpha_env.ops.fused`) against
    the same env computing them one by one, one process, alternated;
15. with ``--against CHECKOUT``: the env of another checkout (e.g. a worktree of round 1's last commit
   ``e5fa3ab``) against this one's, each with its own defaults, masked random agent, one thread, in
   alternated fresh processes (``--seconds`` each, ``--rounds`` pairs): the issue's "≥ 5× round 1"
   measured side by side;
5. with ``--cold`` (or ``--sections 5``): the Numba cold start (fresh process: import + first simulate)
   with an empty cache directory, then again with the cache it left (``NUMBA_CACHE_DIR``); then
   ``python -m alpha_env.warmup`` (the install step) into an empty cache and a fresh process's first
   ``--episodes`` masked-random episodes on ``sp500_2013_2018`` in the main job's env (the type rules'
   masks, the pool reward), twice, with the kernels each run still compiled (``--code``: another
   checkout's ``alpha_env``, for a before/after pair).

Usage::

    python benchmarks/bench_reward_path.py                 # all but the cold start
    python benchmarks/bench_reward_path.py --cold --seconds 20

Figures before this branch cannot be produced in the same process across commits: run the script at the
base commit and at the branch head and compare (docs/ops.md, Performance, lists both).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before Numba loads

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sp500_2013_2018"
DATA_US = ROOT.parent / "shared" / "data" / "us_2006_2013"

EXPRESSIONS = {
    "A101": "(close - open) / ((high - low) + .001)",
    "A1": "rank(ts_argmax(signedpower(((returns < 0) ? stddev(returns, 20) : close), 2.), 5)) - 0.5",
    "AMIX": "ts_rank(decay_linear(correlation(rank(close), rank(volume), 10), 5), 10)"
            " * rank(ts_argmax(close, 10))",
}
FIELDS = {"A101": ("close", "open", "high", "low"), "A1": ("returns", "close"), "AMIX": ("close", "volume")}


def best_ms(fn, repeat: int) -> float:
    """Best of ``repeat`` wall times of ``fn()`` in milliseconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best


def best_ms_interleaved(fns: dict, repeat: int) -> dict:
    """Best of ``repeat`` wall times (ms) of each of ``fns``, called in turn in every round, so that every
    figure sees the same states of a noisy machine and their ratios are side by side."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: 1e3 * t for name, t in best.items()}


@contextmanager
def numpy_row_sort():
    """Patch the previous key sort (NumPy's 64-bit row sort) into ``rank`` and the rank IC."""
    import alpha_env.backtest.kernels as K
    import alpha_env.ops.sortkeys as S

    def plain(keys, bits, parallel=False):
        keys.sort(axis=1)

    saved = S.sort_key_rows, K.sort_key_rows
    S.sort_key_rows = K.sort_key_rows = plain
    try:
        yield
    finally:
        S.sort_key_rows, K.sort_key_rows = saved


def bench_rank(repeat: int) -> None:
    import numpy as np

    import alpha_env.ops.sortkeys as S

    if not hasattr(S, "sort_key_rows"):
        print("\n1. key sort: n/a (this commit has only NumPy's 64-bit row sort)")
        return
    from alpha_env.backtest.kernels import rank_ic_series
    from alpha_env.ops.crosssection import rank

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1260, 500))
    x[rng.random(x.shape) < 0.05] = np.nan
    r = rng.standard_normal(x.shape) * 0.02
    u = np.ones(x.shape, bool)
    cases = {"rank": lambda: rank(x), "rank IC series": lambda: rank_ic_series(x, r, u, 1, 1)}
    print(f"\n1. key sort, 1,260 x 500 (best of {repeat}, interleaved)")
    print(f"{'call':<18} {'numpy u64 sort':>15} {'coarse u32 sort':>16} {'speed-up':>9} {'same bits':>10}")
    for name, fn in cases.items():
        with numpy_row_sort():
            ref = fn()
        same = np.array_equal(ref, fn(), equal_nan=True)
        old = new = float("inf")
        for _ in range(3):
            with numpy_row_sort():
                old = min(old, best_ms(fn, repeat))
            new = min(new, best_ms(fn, repeat))
        print(f"{name:<18} {old:>12.2f} ms {new:>13.2f} ms {old / new:>8.1f}x {str(same):>10}")

    import alpha_env.ops.crosssection as C

    missing = rng.random(x.shape[1]) < 0.05  # stocks without data: NaN columns, as in real panels
    days = {
        "ts_argmax-like 1..5": rng.integers(1, 6, x.shape).astype(float),
        "boolean 0/1": (rng.random(x.shape) < 0.5).astype(float),
        "real-valued": rng.standard_normal(x.shape),
    }
    print(f"\n1b. rank by counting (days of small integers) vs the sort path, 1,260 x 500 (best of {repeat}, "
          "interleaved; real-valued days give up counting at their first value)")
    print(f"{'days':<20} {'sort path':>10} {'rank()':>10} {'speed-up':>9} {'same bits':>10}")
    for name, days_x in days.items():
        days_x[:, missing] = np.nan

        def sort_path(v=days_x):
            out = np.empty(v.shape)
            C._rank_sorted(v, out)
            return out

        same = np.array_equal(sort_path(), rank(days_x), equal_nan=True)
        old = new = float("inf")
        for _ in range(3):
            old = min(old, best_ms(sort_path, repeat))
            new = min(new, best_ms(lambda v=days_x: rank(v), repeat))
        print(f"{name:<20} {old:>7.2f} ms {new:>7.2f} ms {old / new:>8.1f}x {str(same):>10}")


#: glibc ``mallopt`` settings that keep freed big blocks in the heap (what ``alpha_env.evaluate`` set when
#: imported until session 8): allocations up to 32 MiB from the heap, 256 MiB of free heap kept.
_TUNED = "import ctypes; _m = ctypes.CDLL('libc.so.6').mallopt; _m(-3, 32 << 20); _m(-1, 256 << 20)\n"

_ENV_PROBE = """
import os, resource, sys, time
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
TUNING
import gymnasium as gym
import alpha_env.env as E
import alpha_env.evaluate.evaluator as EV
from alpha_env.data import load_panel, synthetic_market
calls = [0]
def counted(fn):
    def run(*args):
        calls[0] += 1
        return fn(*args)
    return run
EV.KERNELS = {name: counted(fn) for name, fn in EV.KERNELS.items()}
path = sys.argv[1]
panel = load_panel(path) if os.path.exists(path) else synthetic_market(seed=0)
env = gym.make(E.ALPHA_STACK_ID, data=panel)
agent = E.MaskedRandomAgent(0)
for ep in range(WARMUP):
    E.play_episode(env, agent, seed=ep)
faults, calls[0], rewarded = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, 0, 0
start = time.perf_counter()
while time.perf_counter() - start < SECONDS:
    rewarded += E.play_episode(env, agent)[2]["reason"] == "complete"
wall = time.perf_counter() - start
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{rewarded / wall:.2f} {faults / max(calls[0], 1):.3f} {calls[0]} {rss:.0f}")
"""

_NUMPY_PROBE = """
import os, resource, time, numpy as np
TUNING
rng = np.random.default_rng(0)
o, h, l, c = (100 + rng.standard_normal((1260, 500)) for _ in range(4))
def ew():
    return (c - o) / ((h - l) + .001)
ew()
best, faults = 1e9, resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(REPEAT):
    t = time.perf_counter(); ew(); best = min(best, time.perf_counter() - t)
print(f"{1e3 * best:.2f} {(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / REPEAT / 4:.0f}")
"""


def _probe(code: str, tuned: bool, *argv: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = code.replace("TUNING", _TUNED if tuned else "")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                         check=True)
    return out.stdout.split()


def bench_malloc(data: Path, seconds: float, warmup: int, repeat: int, rounds: int) -> None:
    """glibc's default allocator settings vs big blocks kept in the heap (``mallopt``), in fresh processes
    alternated ``rounds`` times: the env's rewarded episodes/s and minor page faults per operator call
    (a fresh page costs a fault on first write), and the NumPy temporaries of A101 (4 results)."""
    if not sys.platform.startswith("linux"):
        print("\n2. (glibc only: skipped)")
        return
    label = "sp500_2013_2018" if data.exists() else "synthetic"
    print(f"\n2. allocator: glibc defaults vs big blocks kept (mallopt), fresh processes, {rounds} rounds "
          f"alternated; env on {label}, masked random agent, {seconds:.0f} s each")
    print(f"{'glibc':<9} {'env rewarded/s':>15} {'faults/op call':>15} {'op calls':>9} {'max RSS':>9} "
          f"{'A101 numpy temporaries':>23} {'faults/result':>14}")
    code = _ENV_PROBE.replace("SECONDS", str(seconds)).replace("WARMUP", str(warmup))
    numpy_code = _NUMPY_PROBE.replace("REPEAT", str(repeat))
    for _ in range(rounds):
        for tuned in (False, True):
            rate, faults, calls, rss = _probe(code, tuned, str(data))
            ms, numpy_faults = _probe(numpy_code, tuned)
            print(f"{'tuned' if tuned else 'default':<9} {float(rate):>15.1f} {float(faults):>15.2f} "
                  f"{int(calls):>9} {float(rss):>6.0f} MB {float(ms):>20.2f} ms {int(numpy_faults):>14}")


def load_real(path: Path):
    if not path.exists():
        return None
    from alpha_env.data import load_panel

    return load_panel(path)


def bench_cycles(panel, label: str, repeat: int) -> None:
    import numpy as np

    from alpha_env.ace import ACE
    from alpha_env.backtest import run_backtest
    from alpha_env.evaluate import Evaluator

    ev = Evaluator(panel, cache_bytes=0)
    ace = ACE(panel, evaluator=Evaluator(panel, cache_bytes=0))
    returns, universe = ace._returns, ace._universe
    print(f"\n3. cycles on {label} ({panel.n_dates} x {panel.n_stocks}), the floor best of {repeat}, then "
          f"best of {repeat} rounds of the five other calls in turn, cache off")
    rows = ace.window_rows("train")
    print(f"{'alpha':<6} {'floor':>9} {'evaluate':>9} {'cycle':>9} {'x floor':>8} {'score':>9} "
          f"{'simulate':>9} {'sim/cycle':>9} {'score R':>9} {'R/score':>8}   (R = the first {rows} dates: "
          "the train window's, as the env's reward)")
    for name, text in EXPRESSIONS.items():
        fields = [np.asarray(panel.field(f)) for f in FIELDS[name]]
        floor = best_ms(lambda fs=fields: [np.sum(f) for f in fs], repeat)  # apart: its fields stay cached
        times = best_ms_interleaved({
            "evaluate": lambda e=text: ev.evaluate(e),
            "cycle": lambda e=text: run_backtest(ev.evaluate(e), returns, universe, ace._groups,
                                                 ace._backtest_settings),
            "score": lambda e=text: ace.score(e, "train"),
            "simulate": lambda e=text: ace.simulate(e, save=False),
            "part": lambda e=text: ace.score(e, "train", rows=rows),
        }, repeat)
        evaluate, cycle, score, simulate, part = times.values()
        print(f"{name:<6} {floor:>6.2f} ms {evaluate:>6.2f} ms {cycle:>6.2f} ms {cycle / floor:>7.1f}x "
              f"{score:>6.2f} ms {simulate:>6.2f} ms {simulate / cycle:>8.2f}x {part:>6.2f} ms "
              f"{part / score:>7.2f}x")


def bench_env_pair(panel, label: str, seconds: float, warmup: int, rounds: int, names: tuple[str, str],
                   patch, **options) -> None:
    """Rewarded episodes/s of two envs, the first changed by ``patch(env.unwrapped)``, alternated in
    ``rounds`` slices of ``seconds / rounds`` each, masked random agents of one seed (the same episodes)."""
    import gymnasium as gym

    import alpha_env.env as E

    envs = {name: gym.make(E.ALPHA_STACK_ID, data=panel, **options) for name in names}
    patch(envs[names[0]].unwrapped)
    agents = {name: E.MaskedRandomAgent(0) for name in envs}
    for name, env in envs.items():
        for ep in range(warmup):
            E.play_episode(env, agents[name], seed=ep)
    done = dict.fromkeys(envs, 0)
    wall = dict.fromkeys(envs, 0.0)
    for _ in range(rounds):
        for name, env in envs.items():
            start = time.perf_counter()
            while time.perf_counter() - start < seconds / rounds:
                _, _, info = E.play_episode(env, agents[name])
                done[name] += info["reason"] == "complete"
            wall[name] += time.perf_counter() - start
    before, after = (done[name] / wall[name] for name in names)
    print(f"{label:<40} {before:>11.1f} {after:>11.1f} {after / before:>6.2f}x")
    for env in envs.values():
        env.close()


def _whole_panel(env) -> None:
    env._score_rows = lambda window, expr: None


def _no_nan_stop(env) -> None:
    env.ace.evaluator._nan_stop = False


def _no_fusion(env) -> None:
    env.ace.evaluator._fuse = False


def _no_always_nan(env) -> None:
    """The evaluator of ``env`` without the ``ALWAYS_NAN`` table (the all-NaN stop learns such calls only
    by computing them)."""
    import alpha_env.evaluate.evaluator as evaluator_module

    evaluator = env.ace.evaluator
    value = evaluator._value

    def without_table(*args, **kwargs):
        table = evaluator_module._always_nan
        evaluator_module._always_nan = lambda node: False
        try:
            return value(*args, **kwargs)
        finally:
            evaluator_module._always_nan = table

    evaluator._value = without_table


def _plain_masks(env) -> None:
    env.refuse_degenerate = False  # read at every reset


def _no_bounds(env) -> None:
    env._bounds_first = False


def _with_ic(env) -> None:
    env._lean_ic = False


def _no_grammar_memo(env) -> None:
    from bench_grammar import no_memo_state

    env._grammar_state_cls = no_memo_state


def bench_gp_fitness(panel, label: str, population: int) -> None:
    """Seconds for GP's standard fitness of one population: simulate every alpha vs the lean path."""
    import numpy as np

    from alpha_env.ace import ACE
    from alpha_env.search.genetic import GPSettings, Primitives, TypedTreeFactory, ace_fitness

    factory = TypedTreeFactory(Primitives.for_panel(panel), GPSettings())
    rng = np.random.default_rng(0)
    warm = [factory.random_individual(rng, 2 + k % 4, full=bool(k % 2)) for k in range(20)]
    exprs = [factory.random_individual(rng, 2 + k % 4, full=bool(k % 2)) for k in range(population)]
    fits = {"simulate": ace_fitness(ACE(panel), on_result=lambda result: None),
            "lean": ace_fitness(ACE(panel))}
    for fit in fits.values():  # warm-up on other individuals: compile, and cache the derived fields
        for e in warm:
            fit(e)
    wall = dict.fromkeys(fits, 0.0)
    values: dict[str, list[float]] = {name: [] for name in fits}
    for e in exprs:  # alternated per individual: the same machine state for both
        for name, fit in fits.items():
            start = time.perf_counter()
            values[name].append(fit(e))
            wall[name] += time.perf_counter() - start
    same = all(a == b or (a != a and b != b) for a, b in zip(values["simulate"], values["lean"]))
    decided = sum(v == float("-inf") for v in values["lean"])
    print(f"{label:<22} {population:>6} {wall['simulate']:>10.2f} s {wall['lean']:>8.2f} s "
          f"{wall['simulate'] / wall['lean']:>6.2f}x  same fitness: {same}; {decided} degenerate")


def bench_env(panel, label: str, seconds: float, warmup: int, **options) -> None:
    import gymnasium as gym

    import alpha_env.env as E

    env = gym.make(E.ALPHA_STACK_ID, data=panel, **options)
    agent = E.MaskedRandomAgent(0)
    for ep in range(warmup):
        E.play_episode(env, agent, seed=ep)
    steps = episodes = rewarded = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, n, info = E.play_episode(env, agent)
        steps += n
        episodes += 1
        rewarded += info["reason"] == "complete"
    wall = time.perf_counter() - start
    env.close()
    print(f"{label:<34} {steps / wall:>9.0f} {episodes / wall:>11.1f} {rewarded / wall:>11.1f} "
          f"{100 * rewarded / max(episodes, 1):>9.0f}%")


_COLD_PROBE = """
import time
t0 = time.perf_counter()
from alpha_env.ace import ACE
from alpha_env.data import synthetic_market
t1 = time.perf_counter()
ACE(synthetic_market(seed=0)).simulate("rank(ts_argmax(close, 5)) - rank(volume)", save=False)
t2 = time.perf_counter()
print(f"{t1 - t0:.1f} {t2 - t1:.1f}")
"""


_EPISODES_PROBE = """
import sys
import time
t0 = time.perf_counter()
import gymnasium as gym
import alpha_env.env as E
from alpha_env.data import load_panel
# the main job's env: the type rules' masks (refuse_degenerate=False) and the pool reward
env = gym.make(E.ALPHA_STACK_ID, data=load_panel(sys.argv[1]), refuse_degenerate=False, reward="pool")
agent = E.MaskedRandomAgent(0)
t1 = time.perf_counter()
for ep in range(int(sys.argv[2])):
    E.play_episode(env, agent, seed=ep)
print(f"{t1 - t0:.1f} {time.perf_counter() - t1:.1f}")
"""


_FORMS_PROBE = """
import os
import sys
import time
from alpha_env.ace import ACE
from alpha_env.data import load_panel
from alpha_env.evaluate import Evaluator

def cached():
    return sum(n.endswith(".nbc") for _, _, names in os.walk(os.environ["NUMBA_CACHE_DIR"]) for n in names)

panel = load_panel(sys.argv[1])
ev, ace = Evaluator(panel), ACE(panel)
calls = [(text, lambda text=text: ev.evaluate(text)) for text in sys.argv[2:]]
calls.append(("ACE.score(..., ic=True)", lambda: ace.score("rank(close - open)", "train", ic=True)))
for label, call in calls:
    before, t0 = cached(), time.perf_counter()
    call()
    print(f"{label}|{time.perf_counter() - t0:.2f}|{cached() - before}")
"""

#: expression forms a user's first calls may take: a number where a series goes, a comparison with a
#: number, a series to a number's power, intermediates into time-series kernels
_FORMS = ("correlation(close, 0.5, 5)", "covariance(0.5, rank(close), 5)", "rank(close) > 0.5",
          "pow(close, 2)", "ts_sum(close > open, 5)", "ts_max(close - open, 10) < 0.25")


_RATE_PROBE = """
import sys
import time
import gymnasium as gym
import alpha_env.env as E
from alpha_env.data import load_panel
env = gym.make(E.ALPHA_STACK_ID, data=load_panel(sys.argv[1]))  # that checkout's defaults
agent = E.MaskedRandomAgent(0)
for ep in range(20):
    E.play_episode(env, agent, seed=ep)
steps = episodes = rewarded = 0
t0 = time.perf_counter()
while time.perf_counter() - t0 < float(sys.argv[2]):
    _, n, info = E.play_episode(env, agent)
    steps, episodes, rewarded = steps + n, episodes + 1, rewarded + (info["reason"] == "complete")
wall = time.perf_counter() - t0
print(f"{steps / wall:.0f} {episodes / wall:.1f} {rewarded / wall:.1f}")
"""


def bench_against(other: Path, data: Path, seconds: float, rounds: int) -> None:
    """Section 15: the env of ``other`` (e.g. round 1's commit) and of this checkout, alternated fresh
    processes (each run from its own folder, one Numba thread, its own defaults), after one unmeasured run
    of each that fills its Numba cache."""
    print(f"\n15. env rewarded episodes/s on {data.name}, {other} vs this checkout, alternated fresh "
          f"processes, {seconds:.0f} s each")
    if not data.exists():
        print("  (skipped: no data)")
        return
    env = dict(os.environ, NUMBA_NUM_THREADS="1")

    def run(code: Path, secs: float) -> list[str]:
        out = subprocess.run([sys.executable, "-c", _RATE_PROBE, str(data), str(secs)], capture_output=True,
                             text=True, env=dict(env, PYTHONPATH=str(code)), check=True, cwd=code)
        return out.stdout.split()

    for code in (other, ROOT):  # a checkout never run here compiles its kernels in this run
        run(code, 20.0)
    print(f"{'round':<6} {'checkout':<40} {'steps/s':>8} {'episodes/s':>11} {'rewarded/s':>11}")
    rates: dict[Path, list[float]] = {other: [], ROOT: []}
    for r in range(rounds):
        for code in (other, ROOT):
            steps, episodes, rewarded = run(code, seconds)
            rates[code].append(float(rewarded))
            print(f"{r + 1:<6} {str(code):<40} {steps:>8} {episodes:>11} {rewarded:>11}")
    ratios = [b / a for a, b in zip(rates[other], rates[ROOT])]
    print(f"this checkout / {other.name}: " + ", ".join(f"{x:.2f}x" for x in ratios))


def _cached_kernels(folder: str) -> int:
    return sum(name.endswith(".nbc") for _, _, names in os.walk(folder) for name in names)


def bench_cold(code: Path, data: Path, episodes: int) -> None:
    # cwd=code: a fresh `python -c` / `-m` puts its working directory first on sys.path
    print(f"\n5. cold start in a fresh process, NUMBA_CACHE_DIR, code from {code}")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPATH=str(code), NUMBA_CACHE_DIR=cache)
        for label in ("empty cache", "cache from the run before"):
            out = subprocess.run([sys.executable, "-c", _COLD_PROBE], capture_output=True, text=True,
                                 env=env, check=True, cwd=code)
            imp, first = out.stdout.split()
            print(f"{label:<26} import {imp:>5} s, first simulate {first:>5} s")
    if not data.exists():
        return
    # the install's warmup into an empty cache, then the user's first episodes: what still compiles
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPATH=str(code), NUMBA_CACHE_DIR=cache)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "alpha_env.warmup"], capture_output=True, env=env, check=True,
                       cwd=code)
        warmed = _cached_kernels(cache)
        print(f"{'warmup (empty cache)':<26} {time.perf_counter() - t0:>6.1f} s, "
              f"{warmed} compiled kernels cached")
        for label in ("first run after warmup", "second run"):
            before = _cached_kernels(cache)
            out = subprocess.run([sys.executable, "-c", _EPISODES_PROBE, str(data), str(episodes)],
                                 capture_output=True, text=True, env=env, check=True, cwd=code)
            load, play = out.stdout.split()
            print(f"{label:<26} import + load {load:>5} s, {episodes} random-agent episodes on {data.name} "
                  f"{play:>6} s, kernels compiled {_cached_kernels(cache) - before}")
        out = subprocess.run([sys.executable, "-c", _FORMS_PROBE, str(data), *_FORMS], capture_output=True,
                             text=True, env=env, check=True, cwd=code)
        print("first calls of a fresh process after the warmup (seconds, kernels compiled):")
        for line in out.stdout.splitlines():
            label, seconds, compiled = line.split("|")
            print(f"  {label:<40} {seconds:>6} s  {compiled:>3}")


# --------------------------------------------------------------------------------------------------
# 6. the same expressions in pandas and AlphaGen-style torch (written here for the comparison only)
# --------------------------------------------------------------------------------------------------
def pandas_expressions(fields: dict) -> dict:
    """Straightforward pandas versions of A101, A1 and AMIX on ``(T, N)`` DataFrames (rolling, rank(axis=1));
    pandas has no rolling arg-max, so ``ts_argmax`` takes NumPy's ``sliding_window_view`` arg-max."""
    import numpy as np
    import pandas as pd

    def ts_argmax(df, d):
        x = df.to_numpy()
        out = np.full(x.shape, np.nan)
        win = np.lib.stride_tricks.sliding_window_view(x, d, axis=0)  # (T-d+1, N, d)
        arg = win.argmax(axis=-1).astype(float) + 1.0
        arg[np.isnan(win).any(axis=-1)] = np.nan
        out[d - 1:] = arg
        return pd.DataFrame(out, index=df.index, columns=df.columns)

    def decay_linear(df, d):
        w = np.arange(d, 0, -1, dtype=float)
        return sum(w[k] * df.shift(k) for k in range(d)) / w.sum()

    def rank(df):
        return df.rank(axis=1, pct=True)

    def a101():
        c, o, h, lo = (fields[k] for k in ("close", "open", "high", "low"))
        return (c - o) / ((h - lo) + 0.001)

    def a1():
        r, c = fields["returns"], fields["close"]
        x = r.rolling(20).std().where(r < 0, c).where(r.notna())
        return rank(ts_argmax(np.sign(x) * x.abs() ** 2.0, 5)) - 0.5

    def amix():
        c, v = fields["close"], fields["volume"]
        corr = rank(c).rolling(10).corr(rank(v))
        return decay_linear(corr, 5).rolling(10).rank(pct=True) * rank(ts_argmax(c, 10))

    return {"A101": a101, "A1": a1, "AMIX": amix}


def pandas_backtest(signal, returns):
    """Plain pandas book: demeaned, unit gross, held the next day; returns the daily PnL."""
    s = signal.sub(signal.mean(axis=1), axis=0)
    w = s.div(s.abs().sum(axis=1), axis=0)
    return (w.shift(1) * returns).sum(axis=1)


def torch_expressions(fields: dict) -> dict:
    """AlphaGen-style torch versions (``(T, N)`` tensors, ``unfold`` rolling windows, rank by double
    argsort over the stocks with NaN kept NaN)."""
    import torch

    nan = float("nan")

    def pad(x, d, win_out):  # rolling results are T - d + 1 long: NaN in front
        return torch.cat([torch.full((d - 1, x.shape[1]), nan, dtype=x.dtype), win_out], dim=0)

    def unfold(x, d):
        return x.unfold(0, d, 1)  # (T - d + 1, N, d)

    def rank(x):
        valid = ~torch.isnan(x)
        filled = torch.where(valid, x, torch.full_like(x, float("inf")))
        r = filled.argsort(dim=1).argsort(dim=1).to(x.dtype) + 1.0
        n = valid.sum(dim=1, keepdim=True).to(x.dtype)
        return torch.where(valid, r / n, torch.full_like(x, nan))

    def stddev(x, d):
        return pad(x, d, unfold(x, d).std(dim=-1))

    def ts_argmax(x, d):
        w = unfold(x, d)
        arg = w.argmax(dim=-1).to(x.dtype) + 1.0
        return pad(x, d, torch.where(torch.isnan(w).any(dim=-1), torch.full_like(arg, nan), arg))

    def correlation(x, y, d):
        wx, wy = unfold(x, d), unfold(y, d)
        dx = wx - wx.mean(dim=-1, keepdim=True)
        dy = wy - wy.mean(dim=-1, keepdim=True)
        c = (dx * dy).sum(-1) / ((dx * dx).sum(-1) * (dy * dy).sum(-1)).sqrt()
        return pad(x, d, c)

    def decay_linear(x, d):
        w = torch.arange(1, d + 1, dtype=x.dtype)  # oldest .. newest
        return pad(x, d, (unfold(x, d) * w).sum(-1) / w.sum())

    def ts_rank(x, d):
        w = unfold(x, d)
        last = w[..., -1:]
        return pad(x, d, ((w < last).sum(-1) + 1).to(x.dtype) / d)

    def a101():
        c, o, h, lo = (fields[k] for k in ("close", "open", "high", "low"))
        return (c - o) / ((h - lo) + 0.001)

    def a1():
        r, c = fields["returns"], fields["close"]
        x = torch.where(r < 0, stddev(r, 20), c)
        return rank(ts_argmax(torch.sign(x) * x.abs() ** 2.0, 5)) - 0.5

    def amix():
        c, v = fields["close"], fields["volume"]
        return ts_rank(decay_linear(correlation(rank(c), rank(v), 10), 5), 10) * rank(ts_argmax(c, 10))

    return {"A101": a101, "A1": a1, "AMIX": amix}


def torch_backtest(signal, returns):
    """Plain torch book: demeaned, unit gross, held the next day; returns the daily PnL."""
    import torch

    s = signal - torch.nanmean(signal, dim=1, keepdim=True)
    w = torch.nan_to_num(s / torch.nansum(s.abs(), dim=1, keepdim=True))
    return (w[:-1] * torch.nan_to_num(returns[1:])).sum(dim=1)


def bench_compare(panel, label: str, repeat: int) -> None:
    import numpy as np
    import pandas as pd
    import torch

    from alpha_env.ace import ACE
    from alpha_env.backtest import run_backtest
    from alpha_env.evaluate import Evaluator

    torch.set_num_threads(1)  # one thread, as ours
    names = sorted({f for fs in FIELDS.values() for f in fs} | {"returns"})
    arrays = {f: np.ascontiguousarray(panel.field(f)) for f in names}
    frames = {f: pd.DataFrame(a) for f, a in arrays.items()}
    t64 = {f: torch.from_numpy(a.copy()) for f, a in arrays.items()}
    t32 = {f: t.to(torch.float32) for f, t in t64.items()}
    ev = Evaluator(panel, cache_bytes=0)
    ace = ACE(panel, evaluator=ev)
    returns, universe = ace._returns, ace._universe
    settings = ace._backtest_settings
    groups = ace._groups
    ours_cycle = {name: (lambda e=text: run_backtest(ev.evaluate(e), returns, universe, groups, settings))
                  for name, text in EXPRESSIONS.items()}
    pd_x, t64_x, t32_x = pandas_expressions(frames), torch_expressions(t64), torch_expressions(t32)
    print(f"\n6. the cycle (evaluate + backtest) of ours vs pandas {pd.__version__} and AlphaGen-style torch "
          f"{torch.__version__} (1 thread), {label}, best of {repeat}")
    print(f"{'alpha':<6} {'floor':>8} {'ours':>8} {'x floor':>8} {'pandas':>9} {'x ours':>7} "
          f"{'torch f64':>10} {'x ours':>7} {'torch f32':>10} {'x ours':>7}")
    for name in EXPRESSIONS:
        fields = [arrays[f] for f in FIELDS[name]]
        floor = best_ms(lambda fs=fields: [np.sum(f) for f in fs], repeat)
        ours = best_ms(ours_cycle[name], repeat)
        pdm = best_ms(lambda n=name: pandas_backtest(pd_x[n](), frames["returns"]), max(2, repeat // 3))
        f64 = best_ms(lambda n=name: torch_backtest(t64_x[n](), t64["returns"]), max(2, repeat // 2))
        f32 = best_ms(lambda n=name: torch_backtest(t32_x[n](), t32["returns"]), max(2, repeat // 2))
        print(f"{name:<6} {floor:>5.2f} ms {ours:>5.2f} ms {ours / floor:>7.1f}x {pdm:>6.1f} ms "
              f"{pdm / ours:>6.1f}x {f64:>7.1f} ms {f64 / ours:>6.1f}x {f32:>7.1f} ms {f32 / ours:>6.1f}x")


_TWO_DIGIT = ("10", "11", "12", "13", "14", "15", "16")


def _sections(text: str) -> set[str]:
    """``--sections``: comma-separated section numbers; a token of several digits other than 10-16 lists
    one-digit sections (``364`` = 3, 6 and 4, the form used before section 10)."""
    chosen: set[str] = set()
    for token in text.split(","):
        token = token.strip()
        if not token.isdigit():
            raise argparse.ArgumentTypeError(f"sections are numbers 1-16, got {token!r}")
        chosen.update([token] if token in _TWO_DIGIT else token)
    return chosen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="wall time per env measurement")
    p.add_argument("--warmup", type=int, default=20, help="env episodes before timing")
    p.add_argument("--repeat", type=int, default=10, help="runs per timed call (best is reported)")
    p.add_argument("--data", type=Path, default=DATA, help="the sp500_2013_2018 data set directory")
    p.add_argument("--data-us", type=Path, default=DATA_US,
                   help="the us_2006_2013 data set directory (section 4's second real panel)")
    p.add_argument("--cold", action="store_true",
                   help="also measure the Numba cold start (section 5, slow): import and first simulate with "
                        "an empty cache, then the warmup and a fresh process's first --episodes on --data")
    p.add_argument("--episodes", type=int, default=300, help="random-agent episodes of section 5")
    p.add_argument("--against", type=Path, default=None,
                   help="section 15: another checkout (e.g. a worktree of round 1's e5fa3ab) whose env is "
                        "run against this one's, alternated fresh processes, --seconds each, --rounds")
    p.add_argument("--code", type=Path, default=ROOT,
                   help="the checkout whose alpha_env section 5's fresh processes import (e.g. a worktree "
                        "of a base commit, for a before/after pair)")
    p.add_argument("--sections", type=_sections, default="1,2,3,4,6,7,8,9,10,11,12,13,14,16",
                   help="which of sections 1-16 to run, comma-separated (e.g. 4: the env only; 5: the "
                        "cold start; 6: pandas and torch; 7: the env on the window's dates vs the whole "
                        "panel; 8: the all-NaN stop; 9: the grammar's memo; 10: the ALWAYS_NAN table; 11: "
                        "masks refusing degenerate calls; 12: bounds first; 13: the IC only for "
                        "reward='ic'; 14: GP's standard fitness; 16: fused element-wise chains; 364 = 3,6,4)")
    p.add_argument("--population", type=int, default=200, help="GP individuals in section 14")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternated slices per env in section 7; fresh-process rounds in section 2")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"reward path benchmark: NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    from alpha_env.data import synthetic_market

    if "1" in args.sections:
        bench_rank(args.repeat)
    if "2" in args.sections:
        bench_malloc(args.data, args.seconds, args.warmup, args.repeat, args.rounds)
    real_sections = {"3", "4", "6", "7", "8", "9", "10", "11", "12", "13", "14", "16"}
    real = load_real(args.data) if real_sections & args.sections else None
    synth = synthetic_market(seed=0)
    if not args.data.exists():
        print(f"\n({args.data} is absent: the real-data rows are skipped)")
    if "3" in args.sections:
        bench_cycles(real if real is not None else synth,
                     "sp500_2013_2018" if real is not None else "synthetic", args.repeat)
    if "4" in args.sections:
        print(f"\n4. env, masked random agent, {args.seconds:.0f} s each")
        print(f"{'panel':<34} {'steps/s':>9} {'episodes/s':>11} {'rewarded/s':>11} {'rewarded':>10}")
        us = load_real(args.data_us)
        for options in ({}, {"reward": "pool"}):
            tag = " pool reward" if options else ""
            if real is not None:
                bench_env(real, f"sp500_2013_2018 {real.n_dates} x {real.n_stocks}{tag}", args.seconds,
                          args.warmup, **options)
            if us is not None:
                bench_env(us, f"us_2006_2013 {us.n_dates} x {us.n_stocks}{tag}", args.seconds, args.warmup,
                          **options)
            bench_env(synth, f"synthetic {synth.n_dates} x {synth.n_stocks}{tag}", args.seconds, args.warmup,
                      **options)
    if "14" in args.sections:
        print(f"\n14. GP's standard fitness of {args.population} random individuals, simulate vs lean")
        print(f"{'panel':<22} {'alphas':>6} {'simulate':>12} {'lean':>10} {'ratio':>7}")
        for name, pan in (("sp500_2013_2018", real), ("synthetic", synth)):
            if pan is not None:
                bench_gp_fitness(pan, name, args.population)
    if "6" in args.sections:
        bench_compare(real if real is not None else synth,
                      "sp500_2013_2018" if real is not None else "synthetic", args.repeat)
    pairs = {"7": ("whole panel vs the window's dates", ("whole panel", "window rows"), _whole_panel, False),
             "8": ("every operator computed vs the all-NaN stop", ("no stop", "NaN stop"), _no_nan_stop,
                   True),
             "9": ("grammar rows and masks per step vs the memo", ("no memo", "memo"), _no_grammar_memo,
                   True),
             "10": ("the all-NaN stop without vs with the ALWAYS_NAN table", ("no table", "table"),
                    _no_always_nan, True),
             "11": ("type-rule masks vs masks refusing degenerate calls", ("types", "refuse"), _plain_masks,
                    True),
             "12": ("every alpha evaluated vs the bounds asked first", ("evaluate", "bounds"), _no_bounds,
                    True),
             "13": ("the Pearson IC of every score vs only for reward='ic'", ("with IC", "lean"), _with_ic,
                    True),
             "16": ("element-wise operators one by one vs fused chains", ("one by one", "fused"), _no_fusion,
                    True)}
    for section, (title, names, patch, with_synthetic) in pairs.items():
        if section not in args.sections:
            continue
        print(f"\n{section}. env rewarded episodes/s, {title}, one process, {args.seconds:.0f} s each in "
              f"{args.rounds} alternated slices")
        print(f"{'panel':<40} {names[0]:>11} {names[1]:>11} {'ratio':>7}")
        panels = [("sp500_2013_2018", real), ("us_2006_2013", load_real(args.data_us))]
        panels += [("synthetic", synth)] if with_synthetic else []
        for options in ({}, {"reward": "pool"}):
            tag = " pool reward" if options else ""
            for name, pan in panels:
                if pan is not None:
                    bench_env_pair(pan, f"{name}{tag}", args.seconds, args.warmup, args.rounds, names, patch,
                                   **options)
    if args.against is not None:
        bench_against(args.against.resolve(), args.data, args.seconds, args.rounds)
    if args.cold or "5" in args.sections:
        bench_cold(args.code, args.data, args.episodes)


if __name__ == "__main__":
    main()
