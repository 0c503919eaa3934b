"""GrammarState: masked rollouts and mask exactness against a brute-force completability search."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from alpha_env.errors import ExpressionError
from alpha_env.grammar import (
    BOS_TOKEN,
    END_TOKEN,
    OPERATORS,
    PAD_TOKEN,
    Codebook,
    Const,
    Field,
    GrammarState,
    Group,
    OpToken,
    Window,
    alpha101,
    canonical,
    check,
    length,
    parse,
)
from alpha_env.grammar.checker import TypeRuleError, apply_operator, leaf_value
from alpha_env.grammar.kinds import SERIES_LIKE
from alpha_env.grammar.state import GrammarTables
from tests.grammar_support import assert_mask_matches

BOOK = Codebook.default()
SMALL = Codebook([PAD_TOKEN, BOS_TOKEN, END_TOKEN, Field("close"), Field("volume"), Field("returns"),
                  Group("sector"), Const(-1.0), Const(0.5), Window(2), *(OpToken(n) for n in OPERATORS)])


def _rollout(state: GrammarState, rng: np.random.Generator) -> GrammarState:
    while not state.done:
        mask = state.mask()
        assert mask.any(), f"empty mask before END after {state.ids}"
        state.push(int(rng.choice(np.flatnonzero(mask))))
    return state


@pytest.mark.parametrize("max_len", [1, 2, 3, 5, 8, 13, 21, 40])
def test_random_masked_rollouts_end_valid(max_len):
    rng = np.random.default_rng(max_len)
    for _ in range(300):
        state = _rollout(GrammarState(BOOK, max_len), rng)
        expr = state.expression()
        assert state.length <= max_len and length(expr) == state.length
        assert BOOK.decode(state.ids) == expr
        check(expr)
        assert parse(canonical(expr)) == expr


def test_rollouts_with_unit_checks_are_unit_consistent():
    rng = np.random.default_rng(7)
    for _ in range(300):
        state = _rollout(GrammarState(BOOK, int(rng.integers(1, 25)), units=True), rng)
        check(state.expression(), units=True)
        parse(canonical(state.expression()), units=True)


def _leaf_values(book: Codebook, units: bool):
    return sorted({leaf_value(t, units=units) for t in book.tokens
                   if isinstance(t, Field | Const | Window | Group)}, key=str)


def _brute_force(book: Codebook, units: bool):
    leaves = _leaf_values(book, units)
    specs = [OPERATORS[t.name] for t in book.tokens if isinstance(t, OpToken)]

    def push(stack, token):
        if isinstance(token, OpToken):
            spec = OPERATORS[token.name]
            if len(stack) < spec.arity:
                return None
            try:
                res = apply_operator(spec, stack[len(stack) - spec.arity:], units=units)
            except TypeRuleError:
                return None
            return stack[:len(stack) - spec.arity] + (res,)
        return stack + (leaf_value(token, units=units),)

    @functools.cache
    def completable(stack, remaining):
        if len(stack) == 1 and stack[0].kind in SERIES_LIKE:
            return True
        if remaining <= 0 or len(stack) > 2 * remaining + 1:
            return False
        for v in leaves:
            if completable(stack + (v,), remaining - 1):
                return True
        for spec in specs:
            if len(stack) >= spec.arity:
                try:
                    res = apply_operator(spec, stack[len(stack) - spec.arity:], units=units)
                except TypeRuleError:
                    continue
                if completable(stack[:len(stack) - spec.arity] + (res,), remaining - 1):
                    return True
        return False

    return push, completable


@pytest.mark.parametrize("units", [False, True])
def test_mask_is_exact_against_brute_force(units):
    push, completable = _brute_force(SMALL, units)
    rng = np.random.default_rng(11 + units)
    checked = 0
    for max_len in (1, 2, 3, 4, 5, 6, 7):
        for _ in range(25 if max_len > 4 else 10):
            state = GrammarState(SMALL, max_len, units=units)
            while not state.done:
                stack = state.stack_values()
                checked += assert_mask_matches(state, SMALL, max_len, stack,
                                               len(stack) == 1 and stack[0].kind in SERIES_LIKE, push,
                                               completable)
                state.push(int(rng.choice(np.flatnonzero(state.mask()))))
    assert checked > 10_000


def test_min_to_complete_matches_brute_force():
    push, completable = _brute_force(SMALL, False)
    rng = np.random.default_rng(3)
    for _ in range(60):
        state = GrammarState(SMALL, 9)
        while not state.done:
            stack = state.stack_values()
            need = state.min_to_complete
            if stack:
                assert completable(stack, need) and (need == 0 or not completable(stack, need - 1))
            state.push(int(rng.choice(np.flatnonzero(state.mask()))))


def test_end_only_when_single_series_and_length_budget_respected():
    close, volume = BOOK.id("close"), BOOK.id("volume")
    state = GrammarState(BOOK, 3)
    assert not state.mask()[BOOK.END] and not state.mask()[BOOK.PAD] and not state.mask()[BOOK.BOS]
    state.push(close)
    assert state.complete and state.mask()[BOOK.END]
    # With 2 tokens left, a window would need a time-series operator (2 tokens): allowed. Pushing a second
    # field forces a binary operator next.
    assert state.mask()[BOOK.id("5d")]
    state.push(volume)
    mask = state.mask()
    assert not mask[BOOK.END] and not mask[close] and mask[BOOK.id("add")] and not mask[BOOK.id("rank")]
    state.push(BOOK.id("lt"))
    assert state.complete and state.mask()[BOOK.END] and state.mask().sum() == 1  # a boolean alpha is valid
    state.push(BOOK.END)
    assert state.done and not state.mask().any()
    with pytest.raises(ExpressionError, match="finished"):
        state.push(close)


def test_semantic_rules_in_masks():
    state = GrammarState(BOOK, 10)
    const = BOOK.id("-1")
    assert state.mask()[const]  # -1 * close is fine
    state.push(const)
    mask = state.mask()
    assert not mask[BOOK.id("rank")]  # an operator on a constant alone
    assert not mask[BOOK.id("5d")]  # a window can only follow a series
    state.push(BOOK.id("close"))
    assert state.mask()[BOOK.id("mul")] and state.mask()[BOOK.id("max")]  # max(-1, close) is fine
    s2 = GrammarState(BOOK, 10).extend([BOOK.id("close"), BOOK.id("-1")])
    assert not s2.mask()[BOOK.id("max")]  # max(close, -1) would read back as ts_max
    s3 = GrammarState(BOOK, 10).extend([BOOK.id("close"), BOOK.id("5d")])
    m3 = s3.mask()
    ts_ops = {n for n, s in OPERATORS.items() if len(s.arg_kinds) == 2 and s.category == "time_series"
              and OpToken(n) in BOOK.tokens}  # operators newer than the frozen vocabulary are parse-only
    allowed = {BOOK.texts[i] for i in np.flatnonzero(m3)}
    assert allowed == ts_ops  # a window on top must be consumed at once
    s4 = GrammarState(BOOK, 10).extend([BOOK.id("close"), BOOK.id("sector")])
    assert {BOOK.texts[i] for i in np.flatnonzero(s4.mask())} == \
        {n for n, s in OPERATORS.items() if s.category == "group" and OpToken(n) in BOOK.tokens}


def test_push_refuses_forbidden_ids_with_reason():
    state = GrammarState(BOOK, 5)
    with pytest.raises(ExpressionError, match="needs 1 operands") as info:
        state.push(BOOK.id("rank"))
    assert info.value.position == 0
    state.extend([BOOK.id("close"), BOOK.id("volume")])
    with pytest.raises(ExpressionError, match="must be a window"):
        state.push(BOOK.id("ts_rank"))
    with pytest.raises(ExpressionError):
        state.push(BOOK.PAD)
    with pytest.raises(ExpressionError):
        GrammarState(BOOK, 0)
    with pytest.raises(ExpressionError, match="not complete"):
        GrammarState(BOOK, 5).expression()


def test_every_corpus_alpha_is_reachable_through_the_masks():
    for alpha in alpha101():
        ids = BOOK.encode(alpha.expr)
        state = GrammarState(BOOK, len(ids)).extend(ids)
        assert state.complete and state.mask()[BOOK.END]
        assert state.expression() == alpha.expr


def test_copy_is_independent():
    state = GrammarState(BOOK, 6).extend([BOOK.id("close")])
    other = state.copy()
    other.push(BOOK.id("rank"))
    assert state.ids == (BOOK.id("close"),) and other.ids == (BOOK.id("close"), BOOK.id("rank"))


@pytest.mark.parametrize("units", [False, True])
@pytest.mark.parametrize("subset", [False, True])
def test_memoised_rows_and_masks_equal_fresh_ones(units, subset):
    allowed = None
    if subset:  # a vocabulary without some fields and operators: its own tables and memo
        allowed = np.ones(len(BOOK), dtype=bool)
        allowed[np.random.default_rng(3).choice(np.arange(3, len(BOOK)), 60, replace=False)] = False
    reference = GrammarTables(BOOK, units=units, allowed=allowed, memo=False)
    rng = np.random.default_rng(5 + units + 2 * subset)
    steps = 0
    for _ in range(150):
        max_len = int(rng.integers(1, 30))
        state = GrammarState(BOOK, max_len, units=units, allowed=allowed)
        fresh = GrammarState(BOOK, max_len, units=units, allowed=allowed)
        fresh._t = reference
        while not state.done:
            mask = state.mask()
            assert not mask.flags.writeable
            np.testing.assert_array_equal(mask, fresh.mask())
            assert state.min_to_complete == fresh.min_to_complete
            for mine, theirs in zip(state._rows, fresh._rows, strict=True):
                np.testing.assert_array_equal(mine, theirs)
            token = int(rng.choice(np.flatnonzero(mask)))
            state.push(token)
            fresh.push(token)
            steps += 1
        assert state.expression() == fresh.expression()
    assert steps > 1_000
    assert len(reference._mask_memo) == 0 and len(reference._row_memo) == 1  # the reference kept nothing


def test_memo_is_bounded(monkeypatch):
    import alpha_env.grammar.state as S

    monkeypatch.setattr(S, "MEMO_ENTRIES", 8)
    tables = GrammarTables(BOOK)
    rng = np.random.default_rng(9)
    for _ in range(50):
        state = GrammarState(BOOK, 20)
        state._t = tables
        _rollout(state, rng)
        assert len(tables._row_memo) <= 8 and len(tables._mask_memo) <= 8
    state = GrammarState(BOOK, 20)
    state._t = tables
    check(_rollout(state, rng).expression())  # still exact after the memo restarted


def test_tables_pickle_without_their_memo():
    import pickle

    tables = GrammarTables(BOOK)
    state = GrammarState(BOOK, 20)
    state._t = tables
    _rollout(state, np.random.default_rng(2))
    assert len(tables._row_memo) > 1 and tables._mask_memo
    copy = pickle.loads(pickle.dumps(tables))
    assert list(copy._row_memo) == [()] and not copy._mask_memo
    again = GrammarState(BOOK, 20)
    again._t = copy
    fresh = GrammarState(BOOK, 20)
    fresh._t = GrammarTables(BOOK, memo=False)
    rng = np.random.default_rng(4)
    while not again.done:
        np.testing.assert_array_equal(again.mask(), fresh.mask())
        token = int(rng.choice(np.flatnonzero(again.mask())))
        again.push(token)
        fresh.push(token)
