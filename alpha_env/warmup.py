"""Fill Numba's on-disk cache: compile every operator kernel, the backtest and the metrics once.

Every kernel is compiled with ``cache=True``, so a compiled kernel is written to the cache folder
(:mod:`alpha_env.kernel_cache`: named by a fingerprint of the package's sources) and later processes load
it instead of compiling it again (about 1 s per process instead of a cold compile of many seconds;
figures in ``docs/ops.md``, Performance). ``make install`` runs this module once, so the user's first
simulation, and every RL or search worker process, starts warm. A change of any source file of the
package starts a new folder (compile again, or rerun this module); Numba recompiles by itself when the
CPU differs.

Usage::

    python -m alpha_env.warmup            # one-thread kernels, and parallel ones when Numba has threads

Each operator is called once (in call syntax, with ``close``/``open``, window 5, constant 0.5, group
``sector``) on a small synthetic panel (the one-thread kernels) and, when Numba has more than one
thread, on a panel large enough for the parallel kernels; then one full simulation compiles the
backtest and its metrics, a chain of element-wise operators the fused interpreter
(:mod:`alpha_env.ops.fused`), every element-wise ufunc once
(:func:`alpha_env.ops.elementwise.build_ufuncs`), a plain backtest its IC series, and two offers to an
alpha pool its slot scores. Kernels read read-only arrays only (:func:`alpha_env.ops.threads.read_only`),
so these calls cover the writable intermediates and arrays of later processes too
(``tests/test_warmup.py``).
"""

from __future__ import annotations

import sys
import time

from alpha_env.errors import AlphaEnvError
from alpha_env.kernel_cache import pinned_folder

__all__ = ["MARKERS", "operator_calls", "warm", "is_warm", "main"]

_ARGS = {"series": ("close", "open", "volume"), "bool": ("close > open", "volume > adv20"), "window": ("5",),
         "const": ("0.5",), "group": ("sector",)}


def operator_calls() -> list[str]:
    """One call of every operator of the grammar, in call syntax (e.g. ``correlation(close, open, 5)``)."""
    from alpha_env.grammar import OPERATORS

    calls = []
    for name, spec in OPERATORS.items():
        used: dict[str, int] = {}
        args = []
        for kind in spec.arg_kinds:
            pool = _ARGS[kind.value]
            args.append(pool[used.get(kind.value, 0) % len(pool)])
            used[kind.value] = used.get(kind.value, 0) + 1
        calls.append(f"{name}({', '.join(args)})")
    return calls


def warm(parallel: bool | None = None) -> tuple[int, list[str]]:
    """Compile (or load from the cache) every kernel the reward path uses.

    Args:
        parallel: also warm the parallel kernels (``None``: when Numba has more than one thread).

    Returns:
        ``(calls evaluated, calls refused)``: a refused call is one that the grammar does not accept in
        this plain form (e.g. an operator that needs a vector field), reported, not fatal.
    """
    import numba

    from alpha_env.ace import ACE, simulation_universe
    from alpha_env.backtest import annualized_sharpe, run_backtest
    from alpha_env.data import synthetic_market
    from alpha_env.evaluate import Evaluator
    from alpha_env.ops.elementwise import build_ufuncs
    from alpha_env.ops.threads import PARALLEL_MIN_CELLS
    from alpha_env.pool import AlphaPool, PoolSettings, daily_ic

    if parallel is None:
        parallel = numba.get_num_threads() > 1
    panels = [synthetic_market(seed=0, n_stocks=20, n_days=120, news=False)]
    if parallel:
        n_stocks = 500
        panels.append(synthetic_market(seed=0, n_stocks=n_stocks, n_days=PARALLEL_MIN_CELLS // n_stocks + 20,
                                       news=False))
    build_ufuncs()  # every element-wise ufunc (the evaluator fuses most of their calls)
    done = 0
    refused: list[str] = []
    for i, panel in enumerate(panels):
        ev = Evaluator(panel, cache_bytes=0)
        for call in operator_calls():
            try:
                ev.evaluate(call)
                done += 1
            except AlphaEnvError:
                if i == 0:
                    refused.append(call)
        ace = ACE(panel, evaluator=ev)
        ace.simulate("rank(ts_argmax(close, 5)) - rank(volume)", save=False)
        # a series to one number's power (its own kernel), and the lean score's IC on a window
        ev.evaluate("pow(close, 2)")
        # a chain of element-wise operators: the fused interpreter (one kernel for every such chain)
        ev.evaluate("(close - open) / ((high - low) + 0.001)")
        ace.score("rank(close - open)", "train", ic=True)
        # the plain backtest's IC series (run_backtest's users; the ACE has its own rank-IC path)
        signal = ev.evaluate("rank(close - open)")
        bt = run_backtest(signal, panel.field("returns"), simulation_universe(panel, ace.settings))
        _ = bt.ic, bt.rank_ic, annualized_sharpe(bt.pnl)  # the Sharpe of a PnL series alone (pools')
        # the pools' and tear sheets' daily IC of a signal against a target (Pearson and Spearman)
        _ = daily_ic(signal, panel.field("returns")), daily_ic(signal, panel.field("returns"), ranked=True)
        # a pool's offers (the main job's reward): its one-pass slot scores, first rows and in full
        pool = AlphaPool.from_panel(panel, PoolSettings(capacity=2))
        pool.offer("rank(close - open)", signal)
        rows = pool.signal_rows
        shifted = signal + 1
        pool.offer("rank(close - open) + 1", shifted[:rows], full=lambda s=shifted: s)
    return done, refused


#: Files a warmup leaves in the cache folder (:mod:`alpha_env.kernel_cache`) it filled: one-thread kernels
#: only, or the parallel ones too.
MARKERS = {False: "warm-serial", True: "warm-parallel"}


def is_warm(parallel: bool) -> bool:
    """Whether a warmup of these sources already filled the cache (with the parallel kernels when
    ``parallel``)."""
    folder = pinned_folder()
    return folder is not None and any((folder / MARKERS[p]).is_file() for p in (parallel, True))


def main(argv: list[str] | None = None) -> int:
    """``python -m alpha_env.warmup [--serial] [--if-cold]``: warm the cache and print what it took.

    ``--serial`` warms only the one-thread kernels: those of panels under ``PARALLEL_MIN_CELLS`` cells
    (the embedded market, the RL environment's panels); the parallel ones then compile on first use on
    large panels. This is what ``make install`` runs. ``--if-cold`` does nothing when a warmup of these
    very sources already ran (``make run`` and ``make test`` call it first: after a ``git pull`` that
    changed the sources, the cache folder is new and the warmup runs again).
    """
    import numba

    args = list(argv or [])
    unknown = [a for a in args if a not in ("--serial", "--if-cold")]
    if unknown:
        print(f"alpha_env.warmup: error: unknown argument(s) {' '.join(unknown)} (usage: [--serial] "
              "[--if-cold])", file=sys.stderr)
        return 2
    parallel = "--serial" not in args and numba.get_num_threads() > 1
    if "--if-cold" in args and is_warm(parallel):
        return 0
    t0 = time.perf_counter()
    print("alpha_env.warmup: compiling the Numba kernels into their on-disk cache (once per install and "
          "source change) ...", flush=True)
    done, refused = warm(parallel=parallel)
    folder = pinned_folder()
    if folder is not None:
        (folder / MARKERS[parallel]).write_text(f"{done} operator calls\n")
    print(f"alpha_env.warmup: {done} operator calls and the simulation compiled or loaded from Numba's cache "
          f"in {time.perf_counter() - t0:.1f} s"
          + (f"; not in plain form: {', '.join(refused)}" if refused else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
