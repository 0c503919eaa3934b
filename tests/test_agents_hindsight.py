"""The hindsight document stage: window Sharpes, leak-free neighbour estimates, train-split-only targets,
and a fine-tune that makes the actor's output depend on the news."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from panel_support import scramble_after

from agents.hindsight import (
    HindsightSettings,
    HindsightTargets,
    build_hindsight_targets,
    hindsight_finetune,
    neighbour_means,
    window_sharpes,
)
from alpha_env.backtest.metrics import annualized_sharpe
from alpha_env.errors import SettingsError


def test_window_sharpes_match_the_metric_and_pay_constant_windows_minus_one():
    rng = np.random.default_rng(0)
    pnl = rng.normal(0.001, 0.01, (3, 60))
    pnl[2, 10:30] = 0.0  # no book held there
    starts = np.array([0, 5, 10, 40])
    got = window_sharpes(pnl, starts, 20)
    for e in range(2):
        for m, s in enumerate(starts):
            assert got[e, m] == pytest.approx(annualized_sharpe(pnl[e, s : s + 20]), rel=1e-9)
    assert got[2, 2] == -1.0
    with pytest.raises(SettingsError, match="leave"):
        window_sharpes(pnl, np.array([45]), 20)


def test_neighbour_means_average_similar_news_and_never_a_dates_own_window():
    docs = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    positions = np.arange(8) * 10
    values = np.arange(8, dtype=float)[None, :]
    est = neighbour_means(values, docs, 3, positions=positions, gap=5)
    assert est[0, 0] == pytest.approx((1 + 2 + 3) / 3)  # the other three dates of its cluster
    assert est[0, 7] == pytest.approx((4 + 5 + 6) / 3)
    # overlapping reward windows are excluded as well: with gap 15 the next date is no neighbour
    est = neighbour_means(values, docs, 2, positions=positions, gap=15)
    assert est[0, 0] == pytest.approx((2 + 3) / 2)


@pytest.fixture(scope="module")
def market():
    from alpha_env.ace import ACE
    from alpha_env.data import synthetic_market
    from alpha_env.env.embeddings import embed_document_store

    panel = synthetic_market(seed=3, n_stocks=30, n_days=400)
    table = embed_document_store(panel.documents.aligned(panel.dates), dim=32)
    return panel, table, ACE(panel)


def _decisions(panel, horizon=10, doc_days=5):
    train = panel.splits["train"]
    return np.arange((train.start or 0) + 60, train.stop - horizon - 1)


def test_targets_read_only_the_train_split(market):
    from alpha_env.ace import ACE

    panel, table, ace = market
    settings = HindsightSettings.quick(corpus_size=12)
    dec = _decisions(panel)
    first = build_hindsight_targets(ace, table, dec, horizon=10, doc_days=5, settings=settings)
    assert first.payoffs.shape == (len(first.expressions), dec.size)
    assert first.targets.shape == (dec.size, settings.top_k)
    # scramble every price after the train split: the same targets
    scrambled = scramble_after(panel, panel.splits["train"].stop, seed=1)
    second = build_hindsight_targets(ACE(scrambled), table, dec, horizon=10, doc_days=5, settings=settings)
    assert second.expressions == first.expressions
    np.testing.assert_allclose(second.payoffs, first.payoffs)
    np.testing.assert_array_equal(second.targets, first.targets)


def test_decisions_whose_reward_window_leaves_the_train_split_are_refused(market):
    panel, table, ace = market
    stop = panel.splits["train"].stop
    with pytest.raises(SettingsError, match="decision indices"):
        build_hindsight_targets(ace, table, np.array([stop - 5]), horizon=10, doc_days=5,
                                settings=HindsightSettings.quick())


def test_finetune_makes_the_actor_follow_the_news():
    from alpha_env.grammar import Codebook, canonical, parse
    from encoders import AlphaDecoder, AlphaDecoderConfig

    book = Codebook.default()
    config = AlphaDecoderConfig.from_codebook(book, max_len=12, d_model=32, num_layers=2, num_heads=2,
                                              ff_size=64, dropout=0.0, doc_dim=4)
    decoder = AlphaDecoder(config, seed=0)
    exprs = [canonical(parse("rank(-delta(close, 5))")), canonical(parse("-1 * rank(-delta(close, 5))"))]
    m = 64
    docs = np.zeros((m, 4), np.float32)
    docs[: m // 2, 0] = 1.0  # news of kind A → expression 0; kind B → expression 1
    docs[m // 2 :, 1] = 1.0
    targets = HindsightTargets(expressions=exprs, decisions=np.arange(m), docs=docs,
                               payoffs=np.zeros((2, m)), estimated=np.zeros((2, m)),
                               targets=np.array([[0]] * (m // 2) + [[1]] * (m // 2)))
    hindsight_finetune(decoder, book, targets, HindsightSettings(epochs=30, lr=3e-3, batch_size=16))
    for row, want in ((0, exprs[0]), (m - 1, exprs[1])):
        memory = decoder.memory(doc=torch.as_tensor(docs[row : row + 1]))
        ids = decoder.generate(1, book, max_len=12, memory=memory, greedy=True)[0]
        assert canonical(book.decode(ids)) == want


def test_settings_are_checked():
    with pytest.raises(SettingsError, match="neighbours"):
        HindsightSettings(neighbours=0)
    with pytest.raises(SettingsError, match="lr"):
        HindsightSettings(lr=float("nan"))
