"""Stage 1 for the actor: corpus pretraining, its report, and the checkpoint guard."""

from __future__ import annotations

import pytest

from agents import PretrainSettings, pretrain_actor, sample_quality
from alpha_env.ace import ACE
from alpha_env.data import synthetic_market
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook, parse
from encoders import CodebookMismatchError, load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread_torch")


def test_pretraining_learns_and_reports(tmp_path):
    codebook = Codebook.default()
    ace = ACE(synthetic_market(seed=0, n_stocks=20, n_days=260))
    settings = PretrainSettings.quick(corpus_size=200, epochs=3, n_samples=12)
    decoder, report = pretrain_actor(codebook, settings, ace=ace)
    assert report.corpus_size == 200 and report.train_size + report.holdout_size == 200
    assert report.train_loss[-1] < report.train_loss[0]  # it learns
    assert 0.0 < report.holdout_accuracy <= 1.0
    assert report.sample_valid_rate == 1.0  # grammar-masked sampling only writes valid expressions
    assert 0.0 <= report.sample_nondegenerate_rate <= 1.0
    for text in report.examples:
        parse(text)
    path = save_checkpoint(decoder, tmp_path / "decoder.pt", extra={"pretrain_report": report.as_dict()})
    loaded = load_checkpoint(path, codebook, kind="alpha_decoder")
    assert loaded.extra["pretrain_report"]["corpus_size"] == 200
    with pytest.raises(CodebookMismatchError):
        load_checkpoint(path, codebook.extend(fields=["news_sentiment"]))
    again = sample_quality(loaded.model, codebook, 12, max_len=settings.corpus_max_len, seed=settings.seed)
    assert again["valid_rate"] == 1.0 and again["examples"] == report.examples  # seeded samples


def test_pretraining_rejects_bad_settings():
    with pytest.raises(SettingsError, match="holdout"):
        pretrain_actor(Codebook.default(), PretrainSettings.quick(holdout=0.7))
    with pytest.raises(SettingsError, match="max_len"):
        pretrain_actor(Codebook.default(), PretrainSettings.quick(corpus_max_len=40))


def test_a_report_without_a_market_says_not_measured_never_nan():
    from agents.pretraining import PretrainReport

    report = PretrainReport(corpus_size=10, train_size=8, holdout_size=2)
    assert report.nondegenerate_shown() == "not measured (no market given)"
    report.sample_nondegenerate_rate = 0.4567
    assert report.nondegenerate_shown() == "45.7%" and report.nondegenerate_shown(0) == "46%"
