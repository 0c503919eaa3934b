"""AlphaStack / AlphaTree conversions, measures and codebook ids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_env.errors import ExpressionError
from alpha_env.grammar import (
    BOS_TOKEN,
    END_TOKEN,
    PAD_TOKEN,
    Call,
    Codebook,
    Const,
    Field,
    Group,
    OpToken,
    Window,
    alpha101,
    canonical,
    checked_canonical,
    depth,
    from_stack,
    from_tree,
    length,
    lookback,
    parse,
    parse_token,
    stack_text,
    to_stack,
    to_tree,
)
from alpha_env.grammar.corpus import random_expression

BOOK = Codebook.default()


@pytest.mark.parametrize("alpha", alpha101(), ids=lambda a: f"alpha{a.number}")
def test_corpus_round_trips_through_stack_tree_and_ids(alpha):
    e = alpha.expr
    assert from_stack(to_stack(e)) == e
    assert from_tree(to_tree(e)) == e
    ids = BOOK.encode(e)
    assert BOOK.decode(ids) == e
    assert BOOK.decode(BOOK.encode(e, specials=True) + [BOOK.PAD] * 3) == e
    assert length(e) == len(ids)


def test_forms_of_a_small_expression():
    e = parse("rank(-delta(close, 5)) * volume")
    assert stack_text(to_stack(e)) == "close 5d delta neg rank volume mul"
    assert stack_text(to_tree(e)) == "mul rank volume neg delta close 5d"
    assert depth(e) == 5 and length(e) == 7
    assert lookback(e) == 5


@pytest.mark.parametrize(
    ("text", "days"),
    [("close", 0), ("returns", 1), ("adv20", 19), ("delay(close, 5)", 5), ("ts_mean(close, 5)", 4),
     ("delta(ts_mean(close, 5), 3)", 7), ("correlation(close, adv20, 10)", 28),
     ("ts_rank(close, 1)", 0), ("rank(close) + delay(open, 2)", 2)],
)
def test_lookback_days(text, days):
    assert lookback(parse(text)) == days


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_len=st.integers(1, 50))
def test_random_expressions_round_trip(seed, max_len):
    e = random_expression(BOOK, max_len, np.random.default_rng(seed), agent_only=False)
    assert from_stack(to_stack(e)) == e
    assert from_tree(to_tree(e)) == e
    assert BOOK.decode(BOOK.encode(e)) == e


def test_from_stack_errors_point_at_the_token():
    close, volume = Field("close"), Field("volume")
    with pytest.raises(ExpressionError) as info:
        from_stack([close, OpToken("add")])
    assert info.value.position == 1
    with pytest.raises(ExpressionError) as info:
        from_stack([close, volume])
    assert info.value.position == 2
    with pytest.raises(ExpressionError, match="window"):
        from_stack([close, volume, OpToken("ts_rank")])
    with pytest.raises(ExpressionError, match="constants only"):
        from_stack([Const(1.0), OpToken("rank")])
    with pytest.raises(ExpressionError, match="unknown operator"):
        from_stack([close, OpToken("Rank")])
    with pytest.raises(ExpressionError, match="not a series"):
        from_stack([Const(1.0)])


def test_from_tree_errors_point_at_the_node():
    with pytest.raises(ExpressionError) as info:
        from_tree([OpToken("add"), Field("close")])
    assert info.value.position == 0
    with pytest.raises(ExpressionError) as info:
        from_tree([Field("close"), Field("open")])
    assert info.value.position == 1
    with pytest.raises(ExpressionError) as info:
        from_tree([OpToken("ts_rank"), Field("close"), Field("open")])
    assert info.value.position == 2
    with pytest.raises(ExpressionError):
        from_tree([])


# ---------------------------------------------------------------- codebook

def test_default_codebook_layout():
    assert BOOK.tokens[:3] == (PAD_TOKEN, BOS_TOKEN, END_TOKEN)
    assert (BOOK.PAD, BOOK.BOS, BOOK.END) == (0, 1, 2)
    texts = BOOK.texts
    assert texts.index("open") == 3 and texts[-1] == "min"
    kinds = [type(t).__name__ for t in BOOK.tokens[3:]]
    order = ["Field", "Group", "Const", "Window", "OpToken"]
    assert [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k] == order  # contiguous blocks
    for t in ("adv5", "adv180", "adv81", "market", "subindustry", "-1", "0.5", "1d", "250d", "ts_rank"):
        assert t in BOOK
    assert Codebook.default() is BOOK


def test_default_codebook_version_is_pinned():
    # Changing the default token list changes every id: bump this on purpose, never by accident.
    assert BOOK.version == "cb173-e28c1ff3a352fc2d"
    assert len(BOOK) == 173


def test_default_codebook_is_the_frozen_vocabulary_file():
    from alpha_env.grammar.codebook import DEFAULT_VOCABULARY, read_vocabulary

    texts, version = read_vocabulary(DEFAULT_VOCABULARY)
    assert DEFAULT_VOCABULARY == "vocabulary_v1.txt"
    assert BOOK.texts == texts and BOOK.version == version == "cb173-e28c1ff3a352fc2d"
    # every corpus alpha encodes with the frozen ids
    for entry in alpha101():
        BOOK.encode(entry.expr)


def test_default_codebook_does_not_read_the_alpha101_file(monkeypatch):
    # Editing the 101-alpha formulas cannot change ids: the codebook is built without reading them.
    import alpha_env.grammar.codebook as codebook_module
    import alpha_env.grammar.corpus as corpus_module

    def refuse(*args, **kwargs):
        raise AssertionError("the default codebook read the 101-alpha file")

    monkeypatch.setattr(corpus_module, "alpha101_text", refuse)
    monkeypatch.setattr(corpus_module, "alpha101", refuse)
    rebuilt = codebook_module._default_codebook.__wrapped__()  # a fresh build, the shared one untouched
    assert rebuilt.texts == BOOK.texts and rebuilt.version == BOOK.version
    assert np.array_equal(rebuilt.agent_vocabulary, BOOK.agent_vocabulary)


def test_codebook_ids_and_tokens_round_trip():
    for i, (token, text) in enumerate(zip(BOOK.tokens, BOOK.texts)):
        assert BOOK.id(token) == i and BOOK.id(text) == i and BOOK.token(i) == token
        assert parse_token(text) == token
    with pytest.raises(ExpressionError):
        BOOK.id("nope")
    with pytest.raises(ExpressionError):
        BOOK.token(len(BOOK))


def test_extend_appends_with_new_version_and_stable_ids():
    ext = BOOK.extend(fields=["News_Sentiment", "close"], windows=[300, 5], constants=[0.123])
    assert ext.version != BOOK.version and len(ext) == len(BOOK) + 3
    assert ext.texts[:len(BOOK)] == BOOK.texts
    assert ext.texts[len(BOOK):] == ("news_sentiment", "0.123", "300d")
    assert ext.agent_vocabulary[ext.id("news_sentiment")]
    e = parse("rank(news_sentiment) * close", fields=["news_sentiment"])
    assert ext.decode(ext.encode(e)) == e
    with pytest.raises(ExpressionError, match="not in codebook"):
        BOOK.encode(e)
    with pytest.raises(ExpressionError):
        BOOK.extend(fields=["rank"])
    with pytest.raises(ExpressionError):
        BOOK.extend(windows=[0])
    assert BOOK.extend(fields=["x1"]).version == BOOK.extend(fields=["x1"]).version


def test_agent_vocabulary_excludes_specials_and_odd_literals():
    agent = BOOK.agent_vocabulary
    assert agent.dtype == bool and agent.shape == (len(BOOK),) and not agent.flags.writeable
    assert not agent[BOOK.PAD] and not agent[BOOK.BOS] and agent[BOOK.END]
    assert agent[BOOK.id("-1")] and agent[BOOK.id("20d")] and agent[BOOK.id("rank")]
    assert not agent[BOOK.id("0.728317")] and not agent[BOOK.id("13d")]
    assert agent[BOOK.id("adv81")]


def test_codebook_serialisation_round_trips():
    ext = BOOK.extend(fields=["sent"])
    data = ext.to_texts()
    back = Codebook.from_texts(data)
    assert back == ext and back.version == ext.version
    assert np.array_equal(back.agent_vocabulary, ext.agent_vocabulary)
    data["version"] = "cb0-bad"
    with pytest.raises(ExpressionError, match="version mismatch"):
        Codebook.from_texts(data)


def test_decode_rejects_bad_ids():
    close = BOOK.id("close")
    with pytest.raises(ExpressionError) as info:
        BOOK.decode([BOOK.BOS, close, BOOK.PAD, close])
    assert info.value.position == 2
    with pytest.raises(ExpressionError):
        BOOK.decode([close, 10_000])
    with pytest.raises(ExpressionError):
        BOOK.decode([close, BOOK.END, close])
    assert BOOK.decode([BOOK.BOS, close, BOOK.END, BOOK.PAD]) == Field("close")


def test_canonical_of_hand_built_trees():
    e = Call("indneutralize", (Call("ts_rank", (Field("close"), Window(5))), Group("industry")))
    assert canonical(e) == "indneutralize(ts_rank(close, 5), industry)"
    assert parse(canonical(e)) == e
    with pytest.raises(ExpressionError):
        checked_canonical(Call("add", (Const(1.0), Const(2.0))))


def test_docs_operator_table_matches_the_code():
    from pathlib import Path

    from alpha_env.grammar.operators import markdown_table

    doc = Path(__file__).resolve().parents[1] / "docs" / "grammar.md"
    text = doc.read_text(encoding="utf-8")
    start = text.index("<!-- operator-table:start -->\n") + len("<!-- operator-table:start -->\n")
    end = text.index("<!-- operator-table:end -->")
    assert text[start:end].strip() == markdown_table().strip()
