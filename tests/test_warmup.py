"""``python -m alpha_env.warmup``: one call per operator, every call accepted by the evaluator."""

from __future__ import annotations

from alpha_env.grammar import OPERATORS, parse
from alpha_env.warmup import operator_calls, warm


def test_one_plain_call_per_operator():
    calls = operator_calls()
    assert len(calls) == len(OPERATORS)
    for call in calls:
        parse(call)


def test_warm_evaluates_every_operator_on_one_thread():
    import alpha_env.ops.elementwise as ew

    done, refused = warm(parallel=False)
    assert done + len(refused) == len(OPERATORS)
    assert refused == []
    lazy = [v for v in vars(ew).values() if isinstance(v, ew._LazyUfunc)]
    assert lazy and all(u._ufunc is not None for u in lazy)  # built, so a later first call loads them


_WRITABLE_PROBE = r"""
import sys

import numba
import numpy as np

from alpha_env.warmup import operator_calls, warm

warm(parallel=False)


def dispatchers():
    found = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("alpha_env."):
            for attr, value in vars(module).items():
                if isinstance(value, numba.core.dispatcher.Dispatcher):
                    found[f"{name}.{attr}"] = value
    return found


before = {key: len(d.signatures) for key, d in dispatchers().items()}

from alpha_env.ace import ACE
from alpha_env.backtest import run_backtest
from alpha_env.data import synthetic_market
from alpha_env.evaluate import Evaluator
from alpha_env.pool import daily_ic

panel = synthetic_market(seed=0, n_stocks=20, n_days=120, news=False)
ev = Evaluator(panel, cache_bytes=0)
field_value = ev._leaf_value
# every field handed to the operators as a writable copy (a user's own arrays), read-only intermediates
ev._leaf_value = lambda leaf: (lambda v: np.array(v) if isinstance(v, np.ndarray) else v)(field_value(leaf))
for call in operator_calls():
    ev.evaluate(call)
    ev.evaluate(call, rows=60)
# chains of element-wise operators: the fused interpreter, with fields, intermediates and numbers
for chain in ("if_else(close > open, sqrt(abs(close - open)), -volume) * signedpower(close, 2)",
              "max(rank(close) / (volume + 1), pow(open, close) - 0.5) <= (close == 0.5) + sign(low)"):
    ev.evaluate(chain)
    ev.evaluate(chain, rows=60)
signal = np.array(ev.evaluate("rank(ts_argmax(close, 5)) - rank(volume)"))
returns, universe = np.array(panel.field("returns")), np.ones(signal.shape, dtype=bool)
result = run_backtest(signal, returns, universe)
_ = result.ic, result.rank_ic, daily_ic(signal, returns), daily_ic(signal, returns, ranked=True)
ace = ACE(panel)
ace.simulate("ts_rank(volume, 7) * rank(close - open)", save=False)
ace.score("ts_rank(volume, 7) * rank(close - open)", "train", ic=True)
from alpha_env.pool import AlphaPool, PoolSettings

pool = AlphaPool.from_panel(panel, PoolSettings(capacity=2))
pool.offer("a", signal)
pool.offer("b", signal[: pool.signal_rows] * 2.0, full=lambda: signal * 2.0)
grown = sorted(key for key, d in dispatchers().items() if len(d.signatures) > before.get(key, 0))
print("GROWN", grown)
"""


def test_writable_inputs_compile_nothing_the_warmup_did_not():
    """Every kernel reads read-only arrays (``alpha_env.ops.threads.read_only``), so a user's writable
    arrays, intermediates and a backtest of writable arrays use the signatures ``warm`` compiled: no
    kernel is compiled again (seconds each) after the install's warmup. A fresh process, so that no
    earlier test's compilations hide one."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _WRITABLE_PROBE], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "GROWN []" in run.stdout, run.stdout[-3000:]


def test_if_cold_warms_once_per_cache_folder(monkeypatch, tmp_path):
    """``--if-cold`` runs the warmup only when this cache folder has no marker of one (a folder of other
    sources is another folder: ``alpha_env.kernel_cache``); the parallel warmup covers the serial one."""
    import numba

    from alpha_env import warmup
    from alpha_env.kernel_cache import PREFIX

    folder = tmp_path / (PREFIX + "0123456789abcdef")
    folder.mkdir()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(folder))
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    calls = []
    monkeypatch.setattr(warmup, "warm", lambda parallel=None: (calls.append(parallel), (3, []))[1])
    assert warmup.main(["--serial", "--if-cold"]) == 0 and calls == [False]
    assert (folder / warmup.MARKERS[False]).is_file()
    assert warmup.main(["--serial", "--if-cold"]) == 0 and calls == [False]
    assert warmup.main(["--if-cold"]) == 0 and calls == [False, True]  # the parallel kernels were cold
    assert warmup.main(["--if-cold"]) == 0 and warmup.main(["--serial", "--if-cold"]) == 0
    assert warmup.main([]) == 0 and calls == [False, True, True]  # without --if-cold: always
    assert warmup.main(["--cold"]) == 2
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))  # not a pinned folder: never taken as warm
    assert not warmup.is_warm(False)
