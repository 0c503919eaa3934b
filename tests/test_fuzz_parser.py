"""Fuzz suite, parser (issue 19, Proof): random text from the grammar's tokens and junk, unbalanced
parentheses, huge numbers, unicode, deep nesting and long inputs either parse or raise one
ExpressionError, in Python and through ``alpha-env parse`` (exit 0/1/2, no traceback). The generators and
failure rules are those of ``benchmarks/fuzz_reliability.py`` (its longer run is in docs/reliability.md)."""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_support import assert_no_failure, load_fuzz
from hypothesis import given, settings
from hypothesis import strategies as st

fuzz = load_fuzz()

TOKENS = st.sampled_from(fuzz._NAMES + fuzz._SYMBOLS + fuzz._NUMBERS + fuzz._JUNK)
#: Text built from grammar tokens and junk (hypothesis shrinks a failure to its fewest tokens).
TOKEN_TEXT = st.lists(TOKENS, max_size=60).map("".join)


@settings(max_examples=100)
@given(TOKEN_TEXT)
def test_token_soup_parses_or_raises_expression_error(text):
    assert_no_failure(fuzz.check_parse(text))


@settings(max_examples=60)
@given(st.text(max_size=200))
def test_any_unicode_text_parses_or_raises_expression_error(text):
    assert_no_failure(fuzz.check_parse(text))


@settings(max_examples=60)
@given(st.integers(0, 2**32 - 1))
def test_generated_inputs_parse_or_raise_expression_error(seed):
    """The benchmark's generator: deep nesting, long sums, mutated call trees, junk."""
    assert_no_failure(fuzz.check_parse(fuzz.random_expression(np.random.default_rng(seed))))


@settings(max_examples=20)
@given(st.integers(0, 2**32 - 1))
def test_cli_parse_exits_0_1_or_2_without_traceback(seed):
    assert_no_failure(fuzz.check_parse(fuzz.random_expression(np.random.default_rng(seed)), cli=True))


@pytest.mark.parametrize("text", [
    "x" + "^x" * 493,                      # defect 1: recursion through ^
    "-" * 5000 + "close",                  # prefix operators
    "rank(" * 2000 + "close" + ")" * 2000,  # calls
    "adv" + "7" * 4301,                    # defect 2: Python's digit limit
    "ts_rank(close, " + "9" * 5000 + ")",
    " + ".join(f"delay(close, {k})" for k in range(1, 513)),  # defect 9: node count
    "close + " * 20_000 + "close",         # over MAX_CHARS
    "1e400 * close", "close ^ 1e-310", "\x00", "(" * 50, ")" * 50, "rank(close,,)", "?:", "",
])
def test_issue_19_parser_reproducers(text):
    assert_no_failure(fuzz.check_parse(text, cli=True))
