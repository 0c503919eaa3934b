"""The evaluator's all-NaN stop: ``NAN_STRICT`` is true of every operator, and skipping changes no bit."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alpha_env.evaluate.evaluator as evaluator_module
from alpha_env.data import synthetic_market
from alpha_env.errors import ExpressionError
from alpha_env.evaluate import Evaluator
from alpha_env.grammar import OPERATORS, Codebook, Kind
from alpha_env.grammar.corpus import random_expression
from alpha_env.ops import ALWAYS_NAN, KERNELS, NAN_STRICT
from tests.kernel_support import assert_same_outcome, evaluation_outcome, random_arguments

T_DAYS, N_STOCKS = 120, 25


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=5, n_stocks=N_STOCKS, n_days=T_DAYS, news=False)


def test_every_operator_has_an_entry_naming_series_positions_only():
    assert set(NAN_STRICT) == set(KERNELS) == set(OPERATORS)
    for op, positions in NAN_STRICT.items():
        kinds = OPERATORS[op].arg_kinds
        assert all(0 <= p < len(kinds) and kinds[p] in (Kind.SERIES, Kind.BOOL) for p in positions), op


def _arguments(op: str, rng: np.random.Generator, window: int) -> list:
    """Random arguments of ``op``'s kinds: series with values of both signs, zeros, ties and some NaN."""
    return random_arguments(op, rng, window, (T_DAYS, N_STOCKS))


@pytest.mark.parametrize("op", sorted(op for op, positions in NAN_STRICT.items() if positions))
def test_an_all_nan_argument_at_a_strict_position_makes_the_whole_result_nan(op):
    rng = np.random.default_rng(zlib.crc32(op.encode()))  # str hashes change per process
    for position in NAN_STRICT[op]:
        for window in (1, 2, 5):
            for _ in range(3):
                args = _arguments(op, rng, window)
                args[position] = np.full((T_DAYS, N_STOCKS), np.nan)
                try:
                    out = KERNELS[op](*args)
                except ExpressionError:  # e.g. a window too short for the statistic: no claim to check
                    continue
                assert np.isnan(out).all(), (op, position, window)


def test_the_lenient_positions_really_can_give_numbers():
    nan = np.full((3, 2), np.nan)
    one = np.ones((3, 2))
    assert (KERNELS["pow"](one, nan) == 1.0).all()  # IEEE: 1 ** NaN = 1
    assert (KERNELS["signedpower"](-one, nan) == -1.0).all()
    assert (KERNELS["if_else"](one, one, nan) == 1.0).all()  # the NaN branch is never chosen
    assert (KERNELS["ts_count_nans"](nan, 2)[1:] == 2.0).all()
    assert np.isfinite(KERNELS["trade_when"](one, one, nan)).all()  # a NaN exit never exits


def _kernel_rows(monkeypatch) -> dict[str, list[int]]:
    """Patch the evaluator's dispatch table to record the rows of every series each kernel receives."""
    seen: dict[str, list[int]] = {}

    def recording(name, fn):
        def run(*args):
            rows = [a.shape[0] for a in args if isinstance(a, np.ndarray) and a.ndim == 2]
            seen.setdefault(name, []).extend(rows)
            return fn(*args)
        return run

    monkeypatch.setattr(evaluator_module, "KERNELS", {k: recording(k, f) for k, f in KERNELS.items()})
    return seen


def _scan_sizes(monkeypatch) -> list[int]:
    """Patch the evaluator's all-NaN scan to record the size of every array it scans."""
    scans: list[int] = []
    scan = evaluator_module._all_nan
    monkeypatch.setattr(evaluator_module, "_all_nan", lambda flat: scans.append(flat.size) or scan(flat))
    return scans


def test_the_ancestors_of_an_all_nan_result_run_on_one_date_and_are_not_cached(panel, monkeypatch):
    seen = _kernel_rows(monkeypatch)
    scans = _scan_sizes(monkeypatch)
    ev = Evaluator(panel)
    expr = "ts_rank(rank(correlation(close, open > high, 10)), 5) * volume"  # the correlation of a flat 0/1
    out = ev.evaluate(expr)
    # `open > high` and the correlation's result are scanned; the skipped rank and ts_rank are known all NaN
    assert len(scans) == 2
    assert out.shape == (T_DAYS, N_STOCKS) and np.isnan(out).all() and not out.flags.writeable
    assert seen["correlation"] == [T_DAYS, T_DAYS]  # computed: its result is all NaN
    assert seen["rank"] == [1] and seen["ts_rank"] == [1] and seen["mul"] == [1, 1]  # first date only
    assert "rank(correlation(close, open > high, 10))" not in ev._cache
    assert "correlation(close, open > high, 10)" in ev._cache
    seen.clear()
    assert np.array_equal(ev.evaluate(expr, rows=40), out[:40], equal_nan=True)  # cached all-NaN part
    assert "correlation" not in seen and seen["rank"] == [1]
    same = Evaluator(panel, nan_stop=False).evaluate(expr)
    assert np.array_equal(same, out, equal_nan=True)


def test_operands_read_only_by_doomed_calls_run_on_one_date(panel, monkeypatch):
    seen = _kernel_rows(monkeypatch)
    ev = Evaluator(panel)
    # the left operand ends all NaN first, so the right one is read by a doomed call only
    expr = "log(-1 * close) * ts_rank(rank(volume), 10)"
    out = ev.evaluate(expr)
    assert np.isnan(out).all() and seen["log"] == [T_DAYS]
    assert seen["mul"] == [T_DAYS, 1, 1]  # -1 * close, then the doomed product on one date
    assert seen["rank"] == [1] and seen["ts_rank"] == [1] and "rank(volume)" not in ev._cache
    # a shared operand: the doom of `mul` reaches `add` at once, so neither use needs `rank(volume)` in full
    seen.clear()
    shared = "log(-1 * close) * rank(volume) + rank(volume)"
    assert np.isnan(ev.evaluate(shared)).all() and seen["rank"] == [1]
    # ... but a use by a call that is not doomed computes it in full
    seen.clear()
    kept = "if_else(close > 0, rank(volume), log(-1 * close) * rank(volume))"
    got = ev.evaluate(kept)
    plain = Evaluator(panel, cache_bytes=0, nan_stop=False)
    assert seen["rank"] == [T_DAYS] and np.array_equal(got, plain.evaluate("rank(volume)"), equal_nan=True)
    for text in (expr, shared, kept):
        assert np.array_equal(plain.evaluate(text), ev.evaluate(text), equal_nan=True)


def test_a_skipped_operator_fails_on_a_bad_constant_as_a_computed_one(panel):
    for expr in ("bucket(log(-1 * close), -5, 1)", "ts_quantile(sqrt(-1 * volume), 5, 2)",
                 "scale(log(-1 * close), 1) + ts_mean(close, 500)",
                 # doomed by their own arguments (ALWAYS_NAN) before the walk
                 "correlation(close, 0.5, 10) * ts_mean(close, 500)", "ts_quantile(stddev(close, 1), 5, 2)",
                 "bucket(correlation(volume, 3, 5), -5, 1)"):
        messages = []
        for nan_stop in (True, False):
            with pytest.raises(ExpressionError) as exc:
                Evaluator(panel, nan_stop=nan_stop).evaluate(expr)
            messages.append(str(exc.value))
        assert messages[0] == messages[1], expr


def test_a_lenient_position_is_still_computed(panel):
    ev = Evaluator(panel)
    out = ev.evaluate("if_else(close > 0, volume, log(-1 * close))")
    assert np.array_equal(out, panel.field("volume"), equal_nan=True)
    assert np.isfinite(ev.evaluate("ts_count_nans(log(-1 * close), 3)")[2:]).all()


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, T_DAYS), agent_only=st.booleans())
def test_random_grammar_expressions_give_the_same_bits_with_and_without_the_stop(panel, seed, rows,
                                                                                agent_only):
    expr = random_expression(Codebook.default(), 16, np.random.default_rng(seed), agent_only=agent_only)
    a, b = (evaluation_outcome(lambda s=nan_stop: Evaluator(panel, nan_stop=s).evaluate(expr, rows=rows))
            for nan_stop in (True, False))
    assert_same_outcome(a, b, lambda x, y: x.shape == y.shape and np.array_equal(x, y, equal_nan=True))


# -- calls that their own arguments make all NaN (ALWAYS_NAN) ----------------------------------------------
def _rule_says_nan(op: str, window: int | None, constant_at: tuple[int, ...]) -> bool:
    rule = ALWAYS_NAN.get(op)
    return rule is not None and (window is not None and window < rule.min_window
                                 or any(p in rule.constant_at for p in constant_at))


def test_every_always_nan_entry_names_a_window_or_series_positions():
    assert set(ALWAYS_NAN) <= set(KERNELS)
    for op, rule in ALWAYS_NAN.items():
        kinds = OPERATORS[op].arg_kinds
        assert rule.min_window == 1 or Kind.WINDOW in kinds, op
        assert all(kinds[p] in (Kind.SERIES, Kind.BOOL) for p in rule.constant_at), op
        assert rule.min_window > 1 or rule.constant_at, op  # an entry that says nothing is a typo


@pytest.mark.parametrize("op", sorted(op for op in OPERATORS if any(
    k in (Kind.SERIES, Kind.BOOL) for k in OPERATORS[op].arg_kinds)))
def test_the_table_names_exactly_the_arguments_that_make_a_kernel_all_nan(op):
    """Both ways, on random data with ties, zeros, both signs and NaN holes: where the table says all NaN,
    every draw is all NaN (for every constant tried); where it does not, some draw has a number."""
    rng = np.random.default_rng(zlib.crc32(f"always {op}".encode()))
    kinds = OPERATORS[op].arg_kinds
    series = [p for p, k in enumerate(kinds) if k in (Kind.SERIES, Kind.BOOL)]
    windows = (1, 2, 3, 4, 5) if Kind.WINDOW in kinds else (None,)
    for window in windows:
        for flat in [(), *((p,) for p in series)]:
            expected = _rule_says_nan(op, window, flat)
            outcomes = []
            for value in (0.0, 0.5, -3.0, 1.0, 1e300):
                for _ in range(2):
                    args = _arguments(op, rng, window if window is not None else 1)
                    for p in flat:
                        args[p] = np.full((T_DAYS, N_STOCKS), value)
                    try:
                        outcomes.append(bool(np.isnan(KERNELS[op](*args)).all()))
                    except ExpressionError:
                        continue
                if not flat:
                    break  # no constant to vary
            if not outcomes:
                continue
            if expected:
                assert all(outcomes), (op, window, flat)
            else:
                assert not all(outcomes), (op, window, flat)


def test_a_call_all_nan_by_its_arguments_spares_its_siblings(panel, monkeypatch):
    seen = _kernel_rows(monkeypatch)
    scans = _scan_sizes(monkeypatch)
    ev = Evaluator(panel)
    # postfix computes the left operand first: the known-NaN right one spares it
    expr = "ts_rank(rank(volume), 10) * correlation(close, 0.5, 10)"
    out = ev.evaluate(expr)
    assert out.shape == (T_DAYS, N_STOCKS) and np.isnan(out).all() and not out.flags.writeable
    assert seen["rank"] == [1] and seen["ts_rank"] == [1] and seen["correlation"] == [1, 1]
    assert seen["mul"] == [1, 1] and scans == []  # nothing computed in full, nothing scanned
    assert "rank(volume)" not in ev._cache and "correlation(close, 0.5, 10)" not in ev._cache
    seen.clear()
    for text in ("stddev(close, 1)", "rank(ts_kurtosis(close, 3)) + rank(close)",
                 "if_else(close > open, volume, covariance(close, open, 1))", "covariance(close, 0.5, 5)",
                 "correlation(0.25, close, 5) - ts_skewness(volume, 2)"):
        got = ev.evaluate(text)
        assert np.array_equal(got, Evaluator(panel, nan_stop=False).evaluate(text), equal_nan=True), text
    # a lenient position is not doomed by it: if_else's branch is read only where chosen
    assert not np.isnan(ev.evaluate("if_else(close > open, volume, covariance(close, open, 1))")).all()
    assert (ev.evaluate("covariance(close, 0.5, 5)")[4:] == 0.0).all()  # a flat window covaries 0, not NaN

