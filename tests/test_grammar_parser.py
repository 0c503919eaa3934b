"""Parser, printer and error tests of alpha_env.grammar."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_env.errors import ExpressionError
from alpha_env.grammar import (
    OPERATORS,
    Call,
    Codebook,
    Const,
    Field,
    Group,
    Kind,
    Window,
    alpha101,
    canonical,
    compose,
    parse,
    parse_with_value,
)
from alpha_env.grammar.corpus import random_expression

CORPUS = alpha101()


def test_corpus_has_101_numbered_alphas():
    assert [a.number for a in CORPUS] == list(range(1, 102))


@pytest.mark.parametrize("alpha", CORPUS, ids=lambda a: f"alpha{a.number}")
def test_corpus_alpha_round_trips_through_canonical(alpha):
    text = canonical(alpha.expr)
    assert parse(text) == alpha.expr
    assert canonical(parse(text)) == text
    # The canonical text is lower case and has no paper-only spellings.
    assert "IndClass" not in text and "Ts_" not in text


def test_corpus_tricky_alphas():
    by = {a.number: a.expr for a in CORPUS}
    # Alpha#29: min(..., 5) with a number is ts_min; product(..., 1) keeps window 1.
    assert by[29].args[0].op == "ts_min" and by[29].args[0].args[1] == Window(5)
    # Alpha#84: SignedPower with a series exponent; the window 4.96796 is floored to 4.
    assert by[84] == parse("signedpower(ts_rank(vwap - ts_max(vwap, 15), 20), delta(close, 4))")
    # Alpha#62: adv20 summed over a floored 22.4101 window, comparisons times -1 (bool as a series).
    assert canonical(by[62]).endswith("* -1")
    # Alpha#58: IndClass.sector group and fractional windows.
    assert Group("sector") in by[58].args[1].args[0].args[0].args[0].args
    # Alpha#21: (-1 * 1) folds to the literal -1.
    assert "-1 * 1" not in canonical(by[21])
    # Alpha#101: .001 literal.
    assert by[101].args[1].args[1] == Const(0.001)
    # Alpha#61 is a comparison: a boolean alpha.
    assert parse_with_value(CORPUS[60].text)[1].kind is Kind.BOOL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ts_Rank(close, 5)", Call("ts_rank", (Field("close"), Window(5)))),
        ("TS_ARGMAX(close, 9.91)", Call("ts_argmax", (Field("close"), Window(9)))),
        ("adv(20)", Field("adv20")),
        ("ADV180", Field("adv180")),
        ("scale(close)", Call("scale", (Field("close"), Const(1.0)))),
        ("scale(close, 2)", Call("scale", (Field("close"), Const(2.0)))),
        ("min(close, 5)", Call("ts_min", (Field("close"), Window(5)))),
        ("max(close, 5.5)", Call("ts_max", (Field("close"), Window(5)))),
        ("max(close, open)", Call("max", (Field("close"), Field("open")))),
        ("min(0, close)", Call("min", (Const(0.0), Field("close")))),
        ("IndNeutralize(close, IndClass.subindustry)",
         Call("indneutralize", (Field("close"), Group("subindustry")))),
        ("group_rank(close, sector)", Call("group_rank", (Field("close"), Group("sector")))),
        ("-1 * close", Call("mul", (Const(-1.0), Field("close")))),
        ("-close", Call("neg", (Field("close"),))),
        ("close - -1", Call("sub", (Field("close"), Const(-1.0)))),
        ("1e-3 * close", Call("mul", (Const(0.001), Field("close")))),
        (".5 + close", Call("add", (Const(0.5), Field("close")))),
        ("2. * close", Call("mul", (Const(2.0), Field("close")))),
        ("(1 - 0.25) * close", Call("mul", (Const(0.75), Field("close")))),
        ("close ^ 2 ^ 3", Call("pow", (Field("close"), Const(8.0)))),
        ("-close ^ 2", Call("neg", (Call("pow", (Field("close"), Const(2.0))),))),
        ("close ^ -1", Call("pow", (Field("close"), Const(-1.0)))),
        ("(-2) ^ close", Call("pow", (Const(-2.0), Field("close")))),
        ("open - close - high", Call("sub", (Call("sub", (Field("open"), Field("close"))), Field("high")))),
        ("open / close * high", Call("mul", (Call("div", (Field("open"), Field("close"))), Field("high")))),
        ("add(open, close)", Call("add", (Field("open"), Field("close")))),
        ("close > open ? close : open",
         Call("if_else", (Call("gt", (Field("close"), Field("open"))), Field("close"), Field("open")))),
        ("close > 1 || !(open < 2) && volume == 3",
         Call("or", (Call("gt", (Field("close"), Const(1.0))),
                     Call("and", (Call("not", (Call("lt", (Field("open"), Const(2.0))),)),
                                  Call("eq", (Field("volume"), Const(3.0)))))))),
        ("close < open ? 1 : open < close ? -1 : 0",
         Call("if_else", (Call("lt", (Field("close"), Field("open"))), Const(1.0),
                          Call("if_else", (Call("lt", (Field("open"), Field("close"))), Const(-1.0),
                                           Const(0.0)))))),
        ("(close < open) * -1", Call("mul", (Call("lt", (Field("close"), Field("open"))), Const(-1.0)))),
        ("nws17_d1_nip + close", Call("add", (Field("nws17_d1_nip"), Field("close")))),
    ],
)
def test_parse_semantics(text, expected):
    assert parse(text) == expected
    assert parse(canonical(expected)) == expected


def test_canonical_spellings():
    assert canonical(parse("((close)-(open))")) == "close - open"
    assert canonical(parse("close - (open - high)")) == "close - (open - high)"
    assert canonical(parse("(close ^ open) ^ high")) == "(close ^ open) ^ high"
    assert canonical(parse("(-close) ^ 2")) == "(-close) ^ 2"
    assert canonical(parse("(close > open ? close : open) > 1 ? 1 : 2")) == \
        "(close > open ? close : open) > 1 ? 1 : 2"
    assert canonical(parse("Ts_Rank(close, 5.9)")) == "ts_rank(close, 5)"
    assert canonical(parse("0.1 + close")) == "0.1 + close"
    assert canonical(parse("1.0 + close")) == "1 + close"


@pytest.mark.parametrize("value", [0.1, 1 / 3, 2.21, 1e-12, 123456789.123, 0.27168300000000003, 1e20])
def test_constant_text_round_trips_exactly(value):
    e = Call("mul", (Const(value), Field("close")))
    assert parse(canonical(e)).args[0].value == value


def test_fields_argument_closes_the_world():
    assert parse("news_sentiment * close", fields=["news_sentiment"]) == \
        Call("mul", (Field("news_sentiment"), Field("close")))
    assert parse("adv37 + close", fields=[]) == Call("add", (Field("adv37"), Field("close")))
    with pytest.raises(ExpressionError) as info:
        parse("rank(clsoe)", fields=["news_sentiment"])
    assert info.value.position == 5 and "did you mean 'close'" in str(info.value)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("-1 * rank(ts_rnk(close, 5))", 10,
         "unknown operator 'ts_rnk' at column 10; did you mean 'ts_rank'?"),
        ("ts_rank(close)", 0, "ts_rank takes 2 arguments"),
        ("ts_rank(close, open)", 15, "argument 2 must be a window"),
        ("rank(close", 10, "unbalanced parentheses"),
        ("rank(close))", 11, "unbalanced parentheses"),
        ("close +", 7, "operand is missing"),
        ("", 0, "empty expression"),
        ("rank(close) $ 2", 12, "unexpected character"),
        ("close = open", 6, "did you mean '=='"),
        ("ts_rank(close, 0.5)", 15, "at least 1 day"),
        ("max(close, 0)", 11, "element-wise"),
        ("rank(5)", 0, "constants only"),
        ("1 < 2", 2, "constants only"),
        ("5", 0, "must be a series"),
        ("sector", 0, "must be a series"),
        ("rank(sector)", 5, "group"),
        ("indneutralize(close, close)", 21, "must be a group"),
        ("IndClass.sectr", 0, "did you mean 'IndClass.sector'"),
        ("close ? open : high", 0, "must be a boolean"),
        ("close > open ? high", 19, "expected ':'"),
        ("rank", 0, "needs arguments"),
        ("1 / 0 * close", 2, "not a finite number"),
        ("1e999 * close", 0, "out of range"),
        ("5x + close", 0, "malformed number"),
        ("close(5)", 0, "unknown operator"),
        ("foo.bar", 0, "unknown name"),
    ],
)
def test_errors_name_position_and_problem(text, position, fragment):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert info.value.position == position, str(info.value)
    assert fragment in str(info.value)


def test_unit_checks_are_optional():
    assert parse("close + volume") is not None
    with pytest.raises(ExpressionError, match="units do not match"):
        parse("close + volume", units=True)
    expr, value = parse_with_value("(close - open) / open", units=True)
    assert value.unit.value == "dimensionless"
    assert parse_with_value("sum(close, 5) / 5 - open", units=True)[1].unit.value == "price"
    assert parse("rank(close) + rank(volume)", units=True) is not None
    with pytest.raises(ExpressionError, match="exponent"):
        parse("returns ^ close", units=True)


def test_operator_table_is_consistent():
    for name, spec in OPERATORS.items():
        assert spec.name == name and name == name.lower()
        assert OPERATORS.get(name.upper()) is spec
        for alias in spec.aliases:
            assert OPERATORS.get(alias) is spec
        assert spec.doc
        assert (spec.lookback is not None) == (Kind.WINDOW in spec.arg_kinds)
    assert OPERATORS.suggest("ts_rnk") == "ts_rank"


# ---------------------------------------------------------------- property tests

BOOK = Codebook.default()


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_len=st.integers(1, 40))
def test_canonical_is_idempotent_on_random_expressions(seed, max_len):
    expr = random_expression(BOOK, max_len, np.random.default_rng(seed), agent_only=False)
    text = canonical(expr)
    assert parse(text) == expr
    assert canonical(parse(text)) == text


def _subtrees(expr):
    yield expr
    if isinstance(expr, Call):
        for a in expr.args:
            yield from _subtrees(a)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_len=st.integers(1, 40))
def test_compose_from_argument_texts_equals_canonical(seed, max_len):
    """Keys built bottom-up (the evaluator's walk) are the canonical texts, for every sub-expression."""
    from alpha_env.evaluate.evaluator import Evaluator
    from alpha_env.grammar import to_stack

    expr = random_expression(BOOK, max_len, np.random.default_rng(seed), agent_only=False)
    for sub in _subtrees(expr):
        if isinstance(sub, Call):
            assert compose(sub, [canonical(a) for a in sub.args]) == canonical(sub)
    for node in Evaluator._walk(to_stack(expr)):
        if isinstance(node.expr, Call):
            assert node.key == canonical(node.expr)


def test_compose_on_the_101_alphas():
    from alpha_env.evaluate.evaluator import Evaluator
    from alpha_env.grammar import to_stack

    for alpha in CORPUS:
        nodes = Evaluator._walk(to_stack(alpha.expr))
        assert nodes[-1].key == canonical(alpha.expr)
        assert all(n.key == canonical(n.expr) for n in nodes if isinstance(n.expr, Call))


_ALPHABET = "abcdeloswrnkt_ ().,+-*/^<>=!?:|&0123456789eE$"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40))
def test_random_strings_raise_only_expression_errors_with_position(text):
    try:
        parse(text)
    except ExpressionError as exc:
        assert exc.position is not None and 0 <= exc.position <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_arbitrary_unicode_raises_only_expression_errors(text):
    try:
        parse(text)
    except ExpressionError as exc:
        assert exc.position is not None


@pytest.mark.parametrize("alpha", CORPUS[::5], ids=lambda a: f"alpha{a.number}")
def test_truncated_corpus_lines_raise_expression_errors(alpha):
    """Documented outcome of every prefix: an ``ExpressionError`` with a column inside the prefix, and
    always one when a '(' is left open or an operand is missing; a prefix that parses is a well-formed
    expression (its canonical text parses back to itself)."""
    text = alpha.text
    raised = 0
    for cut in range(len(text)):
        prefix = text[:cut]
        must_fail = prefix.count("(") > prefix.count(")") or prefix.rstrip()[-1:] in ("", "(", ",", "+", "*",
                                                                                       "/", "-")
        try:
            tree = parse(prefix)
        except ExpressionError as exc:
            assert exc.position is not None and 0 <= exc.position <= len(prefix)
            raised += 1
        else:
            assert not must_fail, f"{prefix!r} parsed but is incomplete"
            assert canonical(parse(canonical(tree))) == canonical(tree)
    assert raised > len(text) // 2
    parse(text)  # the whole line parses


def test_const_normalises_negative_zero_and_rejects_nan():
    assert canonical(Call("mul", (Const(-0.0), Field("close")))) == "0 * close"
    with pytest.raises(ValueError):
        Const(math.nan)
    with pytest.raises(ValueError):
        Window(0)


@pytest.mark.parametrize("text", ["(" * 5000 + "close" + ")" * 5000, "-" * 5000 + "close",
                                  " + ".join(["close"] * 3000), "rank(" * 150 + "close" + ")" * 150])
def test_deep_nesting_is_an_expression_error(text):
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse(text)


def test_moderate_nesting_round_trips():
    text = " + ".join(["close"] * 90)
    assert canonical(parse(text)) == text


# ---------------------------------------------------------------- limits (issue 19, defects 1, 2 and 9)

def test_power_chain_counts_toward_the_depth_limit():
    # reproducer: 493 right-associated powers used to raise RecursionError
    with pytest.raises(ExpressionError, match="nested deeper than 100 levels"):
        parse("x" + "^x" * 493)
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("-x^" * 150 + "x")
    assert parse("x" + "^x" * 50) is not None


def test_over_long_text_is_rejected_before_tokenizing():
    from alpha_env.grammar.parser import MAX_CHARS

    with pytest.raises(ExpressionError, match=f"the limit is {MAX_CHARS:,}"):
        parse("close + " * 10_000 + "close")
    with pytest.raises(ExpressionError, match="characters long"):
        parse(" " * (MAX_CHARS + 1) + "close")  # even blanks: the length is checked before scanning


def test_node_limit_names_the_limit():
    from alpha_env.grammar.parser import MAX_NODES

    group = "(" + " + ".join(["close"] * 40) + ")"
    text = " * ".join([group] * 30)  # shallow (height < 100) but about 2,400 nodes
    with pytest.raises(ExpressionError, match=f"more than {MAX_NODES:,} nodes"):
        parse(text)
    assert parse(" * ".join([group] * 10)) is not None  # about 800 nodes


@pytest.mark.parametrize("text", ["adv" + "1" * 4301, "adv10001", "adv(1e9)", "rank(adv" + "9" * 30 + ")",
                                  "ts_mean(close, 1e300)", "delay(close, 20000)"])
def test_unreasonable_look_backs_are_expression_errors(text):
    # reproducer: adv followed by 4,301 digits parsed, then int() failed with Python's digit limit
    with pytest.raises(ExpressionError, match="longer than the limit of 10,000 days"):
        parse(text)


def test_largest_look_back_is_accepted():
    assert parse("adv10000 + ts_mean(close, 10000)") is not None
