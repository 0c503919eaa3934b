"""`alpha-env parse` and the pretraining corpus builder."""

from __future__ import annotations

import json

import numpy as np

from alpha_env.cli import main
from alpha_env.grammar import Codebook, alpha101, build_corpus, canonical, check, length
from alpha_env.grammar.corpus import crossover, mutate, random_expression


def test_cli_parse_text(capsys):
    assert main(["parse", "(-1 * Ts_Rank(rank(low), 9.5))"]) == 0
    out = capsys.readouterr().out
    assert "canonical : -1 * ts_rank(rank(low), 9)" in out
    assert "stack     : -1 low rank 9d ts_rank mul" in out
    assert "look-back : 8 days" in out


def test_cli_parse_json(capsys):
    assert main(["parse", "rank(delta(close, 5))", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["canonical"] == "rank(delta(close, 5))"
    assert info["stack"] == ["close", "5d", "delta", "rank"]
    assert info["tree"] == ["rank", "delta", "close", "5d"]
    assert (info["depth"], info["length"], info["lookback_days"]) == (3, 4, 5)
    book = Codebook.default()
    assert info["ids"] == [book.id("close"), book.id("5d"), book.id("delta"), book.id("rank")]
    assert info["codebook"] == book.version


def test_cli_parse_error_is_one_line_exit_2(capsys):
    assert main(["parse", "rank(ts_rnk(close, 5))"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "alpha-env parse: error: unknown operator 'ts_rnk' at column 5; did you mean 'ts_rank'?"


def test_cli_parse_custom_fields(capsys):
    assert main(["parse", "rank(sent) + close", "--fields", "sent", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ids"] is not None
    assert main(["parse", "rank(snet)", "--fields", "sent"]) == 2
    assert "did you mean 'sent'" in capsys.readouterr().err


def test_build_corpus_is_seeded_valid_and_distinct():
    book = Codebook.default()
    corpus = build_corpus(book, size=400, max_len=25, seed=3)
    assert len(corpus) == 400
    texts = [canonical(e) for e in corpus]
    assert len(set(texts)) == 400
    fitting = [a for a in alpha101() if length(a.expr) <= 25]
    assert texts[:len(fitting)] == [canonical(a.expr) for a in fitting]
    for e in corpus:
        check(e)
        assert length(e) <= 25
        assert book.decode(book.encode(e)) == e
    assert texts == [canonical(e) for e in build_corpus(book, size=400, max_len=25, seed=3)]
    assert texts != [canonical(e) for e in build_corpus(book, size=400, max_len=25, seed=4)]


def test_mutation_and_crossover_change_expressions():
    book = Codebook.default()
    rng = np.random.default_rng(0)
    base = alpha101()[2].expr
    assert any(mutate(base, book, rng) != base for _ in range(10))
    assert any(crossover(base, alpha101()[40].expr, rng) != base for _ in range(10))
    e = random_expression(book, 12, rng)
    assert length(e) <= 12
