"""Evaluator: input forms, sub-expression cache (LRU within a byte budget, statistics), errors."""

from __future__ import annotations

import numpy as np
import pytest

from alpha_env.data import synthetic_market
from alpha_env.errors import ExpressionError, SettingsError
from alpha_env.evaluate import ArrayCache, Evaluator, evaluate
from alpha_env.grammar import Call, Field, OpToken, Window, parse, to_stack
from alpha_env.ops import KERNELS


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=5, n_stocks=12, n_days=80, news=False)


def test_text_tree_and_stack_give_the_same_result(panel):
    text = "rank(-delta(close, 5)) * ts_mean(volume, 3)"
    expr = parse(text)
    ev = Evaluator(panel)
    a = ev.evaluate(text)
    b = Evaluator(panel).evaluate(expr)
    c = Evaluator(panel).evaluate(to_stack(expr))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    close = np.array(panel.field("close"))
    expected = KERNELS["mul"](KERNELS["rank"](KERNELS["neg"](KERNELS["delta"](close, 5))),
                              KERNELS["ts_mean"](np.array(panel.field("volume")), 3))
    np.testing.assert_array_equal(a, expected)
    assert a.shape == panel.shape and a.dtype == np.float64


def test_results_are_read_only(panel):
    out = Evaluator(panel).evaluate("rank(close)")
    with pytest.raises(ValueError):
        out[0, 0] = 1.0


def test_shared_sub_expressions_hit_the_cache(panel):
    ev = Evaluator(panel)
    ev.evaluate("rank(delta(close, 5))")
    s1 = ev.cache_stats()
    assert (s1.hits, s1.misses, s1.entries) == (0, 2, 2)
    again = ev.evaluate("rank(delta(close, 5))")
    s2 = ev.cache_stats()
    assert s2.hits == 1 and s2.misses == 2  # the root is found: its children are not even looked up
    ev.evaluate("-rank(delta(close, 5))")
    s3 = ev.cache_stats()
    assert s3.hits == 2 and s3.misses == 3 and s3.entries == 3
    assert s3.bytes == 3 * again.nbytes
    assert 0 < s3.hit_rate < 1


def test_repeated_sub_expression_is_computed_once_without_cache(panel):
    ev = Evaluator(panel, cache_bytes=0)
    out = ev.evaluate("delta(close, 1) * delta(close, 1)")
    d1 = KERNELS["delta"](np.array(panel.field("close")), 1)
    np.testing.assert_array_equal(out, KERNELS["mul"](d1, d1))
    assert ev.cache_stats().entries == 0


def test_lru_eviction_respects_the_byte_budget(panel):
    one = panel.shape[0] * panel.shape[1] * 8
    ev = Evaluator(panel, cache_bytes=2 * one)
    ev.evaluate("rank(close)")
    ev.evaluate("rank(open)")
    ev.evaluate("rank(close)")  # touch: rank(open) is now the least recently used
    ev.evaluate("rank(high)")
    stats = ev.cache_stats()
    assert stats.entries == 2 and stats.evictions == 1 and stats.bytes <= 2 * one
    before = ev.cache_stats().hits
    ev.evaluate("rank(close)")
    assert ev.cache_stats().hits == before + 1
    ev.clear_cache()
    assert ev.cache_stats().entries == 0 and ev.cache_stats().bytes == 0


def test_array_cache_skips_values_larger_than_the_budget():
    cache = ArrayCache(100)
    cache.put("big", np.zeros(100))
    assert "big" not in cache and len(cache) == 0
    with pytest.raises(SettingsError):
        ArrayCache(-1)


def test_constants_are_broadcast_where_a_kernel_needs_a_series(panel):
    ev = Evaluator(panel)
    out = ev.evaluate(Call("ts_mean", (Call("add", (Field("close"), Field("open"))), Window(3))))
    assert out.shape == panel.shape
    corr = ev.evaluate("correlation(close, 5, 4)")  # a constant series: correlation undefined
    assert np.isnan(corr).all()


def test_evaluate_function(panel):
    np.testing.assert_array_equal(evaluate("rank(close)", panel), Evaluator(panel).evaluate("rank(close)"))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("rank(clsoe)", "unknown field 'clsoe'.*did you mean 'close'"),
        ("rank(cap)", "unknown field 'cap' for this panel; available: open"),
        ("ts_mean(close, 200)", "window of 200 days in 'ts_mean\\(close, 200\\)' is longer than the data"),
        ("rank(delta(close, 80))", "longer than the data"),
        ("rank(close +", "end of"),
    ],
)
def test_errors_name_the_failing_part(panel, expr, message):
    with pytest.raises(ExpressionError, match=message):
        Evaluator(panel).evaluate(expr)


def test_unknown_group_for_this_panel(panel):
    from alpha_env.data import MarketPanel

    small = MarketPanel(panel.dates, panel.tickers, {"close": np.array(panel.field("close"))})
    with pytest.raises(ExpressionError, match="unknown group 'sector' for this panel; available: market"):
        Evaluator(small).evaluate("indneutralize(close, sector)")


def test_bad_stack_and_bad_input(panel):
    with pytest.raises(ExpressionError):
        Evaluator(panel).evaluate([Field("close"), OpToken("delta")])
    with pytest.raises(ExpressionError, match="cannot evaluate a int"):
        Evaluator(panel).evaluate(5)  # type: ignore[arg-type]
    with pytest.raises(SettingsError):
        Evaluator(panel, cache_bytes=-5)


# ---------------------------------------------------------------- memory (issue 19, defect 9)

def test_intermediates_are_freed_after_their_last_consumer():
    import tracemalloc

    panel = synthetic_market(seed=0, news=False)
    one = panel.field("close").nbytes
    text = " + ".join(f"delay(close, {k})" for k in range(1, 65))
    expected = sum(np.roll(panel.field("close"), k, axis=0)[64:] for k in range(1, 65))
    evaluate("delay(close, 1) + delay(close, 2)", panel)  # compile the kernels outside the measurement
    tracemalloc.start()
    try:
        out = evaluate(text, panel)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 * one, f"peak {peak / one:.1f} arrays"  # was 127 arrays before the fix
    np.testing.assert_allclose(out[64:], expected, rtol=1e-12)


def test_repeated_and_cached_subexpressions_still_share_work():
    panel = synthetic_market(seed=0, n_stocks=20, n_days=80, news=False)
    ev = Evaluator(panel)
    a = ev.evaluate("rank(delta(close, 3)) + rank(delta(close, 3)) * rank(delta(close, 3))")
    r = ev.evaluate("rank(delta(close, 3))")
    np.testing.assert_array_equal(a, r + r * r)
    plain = evaluate("ts_mean(close, 5) - ts_mean(close, 5) / ts_mean(close, 5)", panel)
    m = evaluate("ts_mean(close, 5)", panel)
    np.testing.assert_array_equal(plain, m - m / m)


def test_derived_fields_are_kept_beyond_the_panel_memo(monkeypatch):
    import alpha_env.data.panel as panel_module

    market = synthetic_market(seed=1, n_stocks=10, n_days=80, news=False)
    names = [f"adv{d}" for d in range(2, 2 + 2 * panel_module.FIELD_MEMO_ENTRIES)]
    expected = {name: evaluate(f"rank({name})", market) for name in names}
    calls: list[int] = []
    real = panel_module.adv_field

    def counting(close, volume, d):
        calls.append(d)
        return real(close, volume, d)

    monkeypatch.setattr(panel_module, "adv_field", counting)
    ev = Evaluator(market)
    for _ in range(2):
        for name in names:
            np.testing.assert_array_equal(ev.evaluate(f"rank({name})"), expected[name])
            ev._cache.clear()  # the rank results are recomputed; the fields must not be
    assert sorted(calls) == sorted(int(n[3:]) for n in names)  # each computed once by the evaluator
    assert ev.cache_stats().entries == 0  # fields are not sub-expression entries


def test_release_free_memory_collects_cycles_and_returns_pages_on_glibc():
    import platform
    import weakref

    from alpha_env.evaluate.malloc import release_free_memory

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle: only the cyclic collector frees it
    # 2,000 blocks of 64 KB: below glibc's smallest mmap threshold, so they come from the heap and leave
    # 128 MB of free heap pages behind once collected
    a.payload = [np.ones(8_000) for _ in range(2_000)]
    gone = weakref.ref(a)
    del a, b
    released = release_free_memory()
    assert gone() is None
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert released is True
