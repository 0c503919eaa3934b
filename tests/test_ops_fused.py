"""Fused element-wise evaluation: every fusable operator gives its own kernel's bits, operand by operand,
and the evaluator's results are the same bits with fusion on and off."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_env.data import synthetic_market
from alpha_env.errors import ExpressionError
from alpha_env.evaluate import Evaluator
from alpha_env.grammar import Codebook, canonical, parse
from alpha_env.grammar.corpus import random_expression
from alpha_env.ops import KERNELS, OPERATOR_CLASS
from alpha_env.ops.fused import FUSABLE, MAX_INPUTS, TILE, FusedProgram
from alpha_env.ops.threads import read_only
from tests.fuzz_support import load_fuzz
from tests.kernel_support import assert_same_outcome, evaluation_outcome

# rows x stocks spans two tiles and a partial third
SHAPE = (2 * TILE // 50 + 3, 50)

#: values that exercise every rule: NaN, ±inf, ±0, subnormals, huge and tiny, ±1, integers, halves, and
#: pairs equal at 10 significant digits but not exactly (the comparisons' tie rule)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1e308, -1e308, 1e-300, 1.0, -1.0,
                    2.0, 3.0, 0.5, -0.5, 2.5, -7.0, 1e16, 0.1 + 0.2, 0.3, 3.0000000000000004, 710.0, -745.5])


def _operand(rng: np.random.Generator) -> np.ndarray:
    """A ``SHAPE`` array drawn from the special values and random reals of both signs."""
    pick = rng.choice(SPECIAL, size=SHAPE)
    real = rng.normal(0.0, 3.0, size=SHAPE)
    return np.where(rng.random(SHAPE) < 0.6, pick, real)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """NaN at the same cells and every other value the same bits (``-0.0`` is not ``0.0``). A NaN's sign
    bit is left out: the all-NaN stop returns a block of ``+NaN`` for a call that, computed (as a fused
    chain computes it), may give ``-NaN`` (``neg`` of NaN), as ``nan_stop=False`` would."""
    if a.shape != b.shape or not (np.isnan(a) == np.isnan(b)).all():
        return False
    keep = ~np.isnan(a)
    return bool((a[keep].view(np.int64) == b[keep].view(np.int64)).all())


def test_fusable_operators_are_the_element_wise_ones_but_log_vec_avg_and_bucket():
    elementwise = {op for op, kind in OPERATOR_CLASS.items() if kind == "elementwise"}
    assert FUSABLE == elementwise - {"log", "vec_avg", "bucket"}  # NumPy's log; a copy; a lookup


@pytest.mark.parametrize("op", sorted(FUSABLE))
def test_each_operator_gives_its_kernels_bits_for_every_kind_of_operand(op):
    """Operands straight from an input, from a register (the result of another fused call), or a number,
    in every position: the fused value is the operator's own, bit for bit."""
    rng = np.random.default_rng(sorted(FUSABLE).index(op))
    arity = {"neg": 1, "abs": 1, "sign": 1, "not": 1, "sqrt": 1, "if_else": 3}.get(op, 2)
    for kinds in np.ndindex(*(3,) * arity):
        if all(k == 2 for k in kinds):
            continue  # numbers only: not an operator call the evaluator makes
        for number in (0.5, 2.0, -3.0, 0.0, np.nan, 1e300):
            program = FusedProgram(*SHAPE)
            operands, handles = [], []
            for k in kinds:
                if k == 2:
                    operands.append(float(number))
                    handles.append(program.leaf(float(number)))
                    continue
                x = read_only(_operand(rng))
                if k == 0:  # an input, read where it lies
                    operands.append(x)
                    handles.append(program.leaf(x))
                else:  # a register: 0 + x through the program (the same values: x + 0 is x but for -0)
                    y = read_only(_operand(rng))
                    operands.append(KERNELS["add"](x, y))
                    handles.append(program.call("add", [program.leaf(x), program.leaf(y)]))
            got = program.run(program.call(op, handles))
            want = KERNELS[op](*operands)
            assert _same_bits(got, want), (op, kinds, number)


def test_program_errors_are_specific():
    program = FusedProgram(*SHAPE)
    x = program.leaf(np.zeros(SHAPE))
    with pytest.raises(ExpressionError, match="'rank' is not a fusable element-wise operator"):
        program.call("rank", [x])
    with pytest.raises(ExpressionError, match="add takes 2 operands, got 1"):
        program.call("add", [x])
    with pytest.raises(ExpressionError, match=r"shape \(3, 4\) and dtype float64, expected"):
        program.leaf(np.zeros((3, 4)))
    with pytest.raises(ExpressionError, match="runs a call, not an operand"):
        program.run(x)
    numbers = FusedProgram(*SHAPE)
    with pytest.raises(ExpressionError, match="at least one"):
        numbers.run(numbers.call("add", [numbers.leaf(1.0), numbers.leaf(2.0)]))
    wide = FusedProgram(*SHAPE)
    arrays = [np.full(SHAPE, float(i)) for i in range(MAX_INPUTS + 1)]
    for a in arrays[:MAX_INPUTS]:
        wide.leaf(a)
    assert wide.leaf(arrays[0]) < 0 and wide.n_inputs == MAX_INPUTS  # the same array is one input
    with pytest.raises(ExpressionError, match=f"at most {MAX_INPUTS} array inputs"):
        wide.leaf(arrays[-1])


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=3, n_stocks=30, n_days=200, news=False)


def test_a_chain_runs_as_one_program_and_its_links_are_not_cached(panel, monkeypatch):
    import alpha_env.ops.fused as fused

    runs = []
    original = fused._run_program
    monkeypatch.setattr(fused, "_run_program", lambda *a: runs.append(len(a[0])) or original(*a))
    text = "(close - open) / ((high - low) + 0.001)"
    ev = Evaluator(panel)
    got = ev.evaluate(text)
    assert runs == [5]  # one program of 5 instructions: sub, sub, the number, add, div
    assert _same_values(got, Evaluator(panel, fuse=False).evaluate(text))
    keys = [canonical(parse(t)) for t in (text, "close - open", "(high - low) + 0.001")]
    assert keys[0] in ev._cache and not any(k in ev._cache for k in keys[1:])  # only the chain's result


def test_a_chain_reading_more_arrays_than_a_program_takes_is_cut(panel, monkeypatch):
    import alpha_env.ops.fused as fused

    inputs = []
    original = fused._run_program
    monkeypatch.setattr(fused, "_run_program",
                        lambda *a: inputs.append(sum(x.size > 0 for x in a[2])) or original(*a))
    fields = ["open", "high", "low", "close", "volume", "vwap", "returns", "adv5", "adv10", "adv20", "adv60"]
    text = " + ".join(f"(({f} * 2) - {g})" for f, g in zip(fields, fields[1:] + fields[:1]))
    got = Evaluator(panel).evaluate(text)
    assert len(inputs) > 1 and max(inputs) <= MAX_INPUTS
    assert _same_values(got, Evaluator(panel, fuse=False).evaluate(text))


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 200), agent_only=st.booleans(),
       cache=st.booleans())
def test_random_grammar_expressions_give_the_same_values_fused_or_not(panel, seed, rows, agent_only, cache):
    expr = random_expression(Codebook.default(), 20, np.random.default_rng(seed), agent_only=agent_only)
    def run(fuse: bool) -> np.ndarray:
        ev = Evaluator(panel, cache_bytes=2**24 if cache else 0, fuse=fuse)
        if cache:  # a second, overlapping request reads the first one's cached results
            ev.evaluate(expr, rows=max(1, rows // 2))
        return ev.evaluate(expr, rows=rows)

    assert_same_outcome(evaluation_outcome(lambda: run(True)), evaluation_outcome(lambda: run(False)),
                        _same_values, expr)


def test_a_chain_the_all_nan_stop_would_skip_gives_nan_of_either_sign(panel):
    """``-(close / 0)``: one by one, the stop sees ``close / 0`` all NaN and returns its ``+NaN`` block for
    ``neg``; fused, ``neg`` runs and flips the sign bit of each NaN. NaN either way."""
    fused = Evaluator(panel).evaluate("-(close / 0)")
    plain = Evaluator(panel, fuse=False).evaluate("-(close / 0)")
    assert np.isnan(fused).all() and np.isnan(plain).all() and _same_values(fused, plain)
    assert np.signbit(fused).all() and not np.signbit(plain).any()


@pytest.mark.parametrize("seed", range(3))
def test_fused_and_unfused_agree_on_adversarial_panels(seed):
    """Panels with ±inf, 1e300, subnormals and NaN runs, and 150 random expressions each."""
    fuzz = load_fuzz()
    rng = np.random.default_rng(seed)
    panel = fuzz.adversarial_panel(rng, n_stocks=15, n_days=120)
    fused, plain = Evaluator(panel), Evaluator(panel, fuse=False)
    checked = 0
    for _ in range(150):
        expr = random_expression(Codebook.default(), 16, rng, agent_only=False)
        try:
            want = plain.evaluate(expr)
        except ExpressionError as exc:
            with pytest.raises(ExpressionError, match=None) as info:
                fused.evaluate(expr)
            assert str(info.value) == str(exc)
            continue
        assert _same_values(fused.evaluate(expr), want), expr
        checked += 1
    assert checked > 75  # most expressions evaluate (the rest fail alike, checked above)
