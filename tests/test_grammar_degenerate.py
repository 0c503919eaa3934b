"""Calls degenerate whatever the data (``DEGENERATE_CALLS``): the table against the kernels, both ways, and
masks that refuse such calls while staying exact (``GrammarState(refuse_degenerate=True)``)."""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pytest

from alpha_env.errors import ExpressionError
from alpha_env.grammar import (
    BOS_TOKEN,
    END_TOKEN,
    OPERATORS,
    PAD_TOKEN,
    Call,
    Codebook,
    Const,
    Field,
    GrammarState,
    Group,
    Kind,
    OpToken,
    Window,
    alpha101,
    check,
)
from alpha_env.grammar.checker import TypeRuleError, apply_operator, leaf_value
from alpha_env.grammar.degenerate import DEGENERATE_CALLS, WINDOW_BOUNDS, call_reason, degenerate_reason
from alpha_env.grammar.kinds import SERIES_LIKE
from alpha_env.ops import ALWAYS_NAN, KERNELS
from tests.grammar_support import assert_mask_matches
from tests.kernel_support import random_arguments

T_DAYS, N_STOCKS = 60, 12


def _degenerate(out: np.ndarray) -> bool:
    """All NaN, or one number for every stock on each day wherever it is a number."""
    out = np.asarray(out, dtype=float)
    finite = np.isfinite(out)
    if not finite.any():
        return True
    with np.errstate(invalid="ignore"):
        high = np.where(finite, out, -np.inf).max(axis=1)
        low = np.where(finite, out, np.inf).min(axis=1)
    days = finite.any(axis=1)
    return bool(np.all(high[days] - low[days] <= 1e-12 * np.maximum(1.0, np.abs(high[days]))))


def _accepted(op: str, constant_at: tuple[int, ...]) -> bool:
    """Whether the type rules accept ``op`` with numbers at ``constant_at`` (``rank(5)`` is an error)."""
    spec = OPERATORS[op]
    values = tuple(leaf_value(Const(1.0)) if p in constant_at else
                   leaf_value(Field("close")) if k in (Kind.SERIES, Kind.BOOL) else
                   leaf_value(Window(2)) if k is Kind.WINDOW else
                   leaf_value(Group("sector")) if k is Kind.GROUP else leaf_value(Const(1.0))
                   for p, k in enumerate(spec.arg_kinds))
    try:
        apply_operator(spec, values)
    except TypeRuleError:
        return False
    return True


def test_every_entry_names_windows_series_positions_or_groups_of_its_operator():
    assert set(DEGENERATE_CALLS) <= set(KERNELS)
    for op, rule in DEGENERATE_CALLS.items():
        kinds = OPERATORS[op].arg_kinds
        assert (rule.nan_below == 1 and rule.flat_below == 1) or Kind.WINDOW in kinds, op
        for p in (*rule.nan_constant_at, *rule.flat_constant_at):
            assert kinds[p] in (Kind.SERIES, Kind.BOOL), op
        assert not rule.flat_groups or Kind.GROUP in kinds, op
        assert rule != type(rule)(), op  # an entry that says nothing is a typo
    assert WINDOW_BOUNDS == (2, 3, 4)


def test_the_evaluators_all_nan_table_is_the_nan_half():
    for op, rule in DEGENERATE_CALLS.items():
        says_nan = rule.nan_below > 1 or rule.nan_constant_at
        assert (op in ALWAYS_NAN) == bool(says_nan), op
        if says_nan:
            assert ALWAYS_NAN[op].min_window == rule.nan_below
            assert ALWAYS_NAN[op].constant_at == rule.nan_constant_at
    assert set(ALWAYS_NAN) <= set(DEGENERATE_CALLS)


@pytest.mark.parametrize("op", sorted(op for op in OPERATORS if op in KERNELS and any(
    k in (Kind.SERIES, Kind.BOOL) for k in OPERATORS[op].arg_kinds)))
def test_the_table_names_exactly_the_arguments_that_make_a_kernel_degenerate(op):
    """Both ways, on random data: where the table says degenerate, every draw is (and all NaN where it
    says NaN), for every number tried; where it does not, some draw is not degenerate."""
    rng = np.random.default_rng(zlib.crc32(f"degenerate {op}".encode()))
    kinds = OPERATORS[op].arg_kinds
    series = [p for p, k in enumerate(kinds) if k in (Kind.SERIES, Kind.BOOL)]
    windows = (1, 2, 3, 4, 5) if Kind.WINDOW in kinds else (None,)
    groups = ("market", "sector") if Kind.GROUP in kinds else (None,)
    for window in windows:
        for group in groups:
            for flat in [(), *((p,) for p in series)]:
                if flat and not _accepted(op, flat):
                    continue
                reason = degenerate_reason(op, flat, window, group)
                outcomes, nans = [], []
                for value in (0.0, 0.5, -3.0, 1.0, 1e300):
                    for _ in range(3):
                        args = random_arguments(op, rng, window or 1, (T_DAYS, N_STOCKS), noise=0.7,
                                                holes=0.03, market=group == "market")
                        for p in flat:
                            args[p] = np.full((T_DAYS, N_STOCKS), value)
                        try:
                            out = KERNELS[op](*args)
                        except ExpressionError:
                            continue
                        outcomes.append(_degenerate(out))
                        nans.append(bool(np.isnan(out).all()))
                    if not flat:
                        break  # no number to vary
                if not outcomes:
                    continue
                case = (op, window, group, flat)
                if reason is None:
                    assert not all(outcomes), case
                else:
                    assert all(outcomes), case
                    assert ("NaN" in reason) == all(nans), case


# -- masks that refuse degenerate calls ------------------------------------------------------------------
BOOK = Codebook.default()
SMALL = Codebook([PAD_TOKEN, BOS_TOKEN, END_TOKEN, Field("close"), Field("volume"), Group("sector"),
                  Group("market"), Const(0.5), Window(1), Window(2), Window(3), Window(5),
                  *(OpToken(n) for n in OPERATORS)])


def _key(item) -> object:
    """What of a stack item a later call's verdict can read: a leaf itself (a number, a window's days, a
    group's name), else only its abstract value (the rules look at leaf arguments only)."""
    return item if isinstance(item, Field | Const | Window | Group) else check(item)


def _brute_force(book: Codebook):
    """Push and completability over concrete stacks, refusing every call that ``call_reason`` names."""
    ops = [t for t in book.tokens if isinstance(t, OpToken)]
    leaves = [t for t in book.tokens if isinstance(t, Field | Const | Window | Group)]

    def push(stack: tuple, token) -> tuple | None:
        if not isinstance(token, OpToken):
            return stack + (token,)
        spec = OPERATORS[token.name]
        if len(stack) < spec.arity:
            return None
        args = stack[len(stack) - spec.arity:]
        try:
            apply_operator(spec, tuple(leaf_value(a) if not isinstance(a, Call) else check(a) for a in args))
        except TypeRuleError:
            return None
        call = Call(spec.name, args)
        if call_reason(call) is not None:
            return None
        return stack[:len(stack) - spec.arity] + (call,)

    @functools.cache
    def completable_key(keys: tuple, remaining: int) -> bool:
        stack = tuple(k if isinstance(k, Field | Const | Window | Group) else _stand_in(k) for k in keys)
        return completable(stack, remaining)

    def completable(stack: tuple, remaining: int) -> bool:
        if len(stack) == 1 and (isinstance(stack[0], Field)
                                or isinstance(stack[0], Call) and check(stack[0]).kind in SERIES_LIKE):
            return True
        if remaining <= 0 or len(stack) > 2 * remaining + 1:
            return False
        for token in (*leaves, *ops):
            new = push(stack, token)
            if new is not None and completable_key(tuple(_key(x) for x in new), remaining - 1):
                return True
        return False

    return push, completable


@functools.cache
def _stand_in(value) -> Call:
    """A call of the abstract value ``value`` (series or boolean) with no degenerate call inside."""
    return Call("rank", (Field("close"),)) if value.kind is Kind.SERIES else \
        Call("lt", (Field("close"), Field("volume")))


def test_masks_that_refuse_degenerate_calls_are_exact_against_brute_force():
    push, completable = _brute_force(SMALL)
    rng = np.random.default_rng(3)
    checked = 0
    for max_len in (1, 2, 3, 4, 5, 6):
        for _ in range(20 if max_len > 3 else 6):
            state = GrammarState(SMALL, max_len, refuse_degenerate=True)
            stack: tuple = ()
            while not state.done:
                checked += assert_mask_matches(state, SMALL, max_len, stack, state.complete, push,
                                               completable)
                choice = int(rng.choice(np.flatnonzero(state.mask())))
                if choice != Codebook.END:
                    stack = push(stack, SMALL.tokens[choice])
                state.push(choice)
    assert checked > 5_000


def _calls(expr):
    if isinstance(expr, Call):
        yield expr
        for a in expr.args:
            yield from _calls(a)


@pytest.mark.parametrize("max_len", [3, 8, 20])
def test_masked_rollouts_never_write_a_degenerate_call(max_len):
    rng = np.random.default_rng(max_len)
    refused = 0
    for _ in range(300):
        state = GrammarState(BOOK, max_len, refuse_degenerate=True)
        while not state.done:
            state.push(int(rng.choice(np.flatnonzero(state.mask()))))
        assert all(call_reason(c) is None for c in _calls(state.expression())), state.expression()
        plain = GrammarState(BOOK, max_len)
        while not plain.done:
            plain.push(int(rng.choice(np.flatnonzero(plain.mask()))))
        refused += any(call_reason(c) is not None for c in _calls(plain.expression()))
    if max_len >= 8:
        assert refused > 0  # the plain masks do write them: the test would see a leak


def test_every_101_alpha_is_reachable_through_the_refusing_masks():
    for alpha in alpha101():
        state = GrammarState(BOOK, 200, refuse_degenerate=True)
        state.extend(BOOK.encode(alpha.expr))
        assert state.complete, alpha.number


def test_a_refused_call_is_explained_and_the_plain_masks_allow_it():
    close, half, w10, w1 = (BOOK.id(t) for t in ("close", "0.5", "10d", "1d"))
    # after (close, 0.5) a window could only feed correlation or covariance of the number: refused
    state = GrammarState(BOOK, 20, refuse_degenerate=True).extend([close, half])
    assert not state.mask()[w10] and state.mask()[BOOK.id("add")]
    assert "without a call that is degenerate whatever the data" in state.why_not(w10)
    plain = GrammarState(BOOK, 20).extend([close, half, w10])
    assert plain.mask()[BOOK.id("correlation")] and plain.mask()[BOOK.id("covariance")]
    # a window of one day: ts_argmax and stddev are refused, ts_mean (the value itself) is not
    state = GrammarState(BOOK, 20, refuse_degenerate=True).extend([close, w1])
    assert not state.mask()[BOOK.id("ts_argmax")] and state.mask()[BOOK.id("ts_mean")]
    assert state.why_not(BOOK.id("stddev")) == ("stddev over a 1-day window is NaN whatever the data "
                                                "(it needs 2 days)")
    assert "same number for every stock" in state.why_not(BOOK.id("ts_argmax"))
    with pytest.raises(ExpressionError, match="stddev over a 1-day window"):
        state.push(BOOK.id("stddev"))
    # group_mean over the market is one number a day; over sectors it is not
    state = GrammarState(BOOK, 20, refuse_degenerate=True).extend([close, BOOK.id("market")])
    assert not state.mask()[BOOK.id("group_mean")] and state.mask()[BOOK.id("group_rank")]
    assert state.why_not(BOOK.id("group_mean")) == ("group_mean over the market group is the same number "
                                                    "for every stock")
    state = GrammarState(BOOK, 20, refuse_degenerate=True).extend([close, BOOK.id("sector")])
    assert state.mask()[BOOK.id("group_mean")]
