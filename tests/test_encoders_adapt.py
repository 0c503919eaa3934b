"""encoders.adapt_* (the FinBERT recipe on a small model) and experiments/adapt_document_encoder.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from encoders_support import save_tiny_bert

from alpha_env.errors import DataError, SettingsError
from encoders import DocumentEncoder, bert_layer_groups
from encoders.adapt_classifier import (
    ClassifierFinetuneSettings,
    classification_scores,
    finetune_classifier,
    logistic_probe,
    predict_proba,
    sequence_classifier,
)
from encoders.adapt_common import (
    SENTIMENT_LABELS,
    embeddings_per_second,
    length_batches,
    load_phrasebank,
    stratified_split,
    train_period_news,
)
from encoders.adapt_mlm import further_pretrain_mlm, masked_lm, mlm_eval
from encoders.finetune import unfrozen_groups

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHRASEBANK = DATA / "phrasebank" / "sentences_50agree.csv"


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the tiny models run ~10x faster than with threads spinning on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BertModel folder (no MLM head, with a pooler) and its WordPiece tokenizer."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


def tokenizer_of(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


# --------------------------------------------------------------------------- data
@pytest.mark.real_data
def test_load_phrasebank_real() -> None:
    if not PHRASEBANK.is_file():
        pytest.skip("shared data not available")
    texts, labels = load_phrasebank(PHRASEBANK)
    assert len(texts) == labels.size == 4846
    counts = dict(zip(SENTIMENT_LABELS, np.bincount(labels, minlength=3).tolist()))
    assert counts == {"positive": 1363, "negative": 604, "neutral": 2879}


def test_load_phrasebank_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"sentence": ["Profit rose", "Sales fell"], "label": ["positive", "mixed"]}).to_csv(bad)
    with pytest.raises(DataError, match="row 1 has label 'mixed'"):
        load_phrasebank(bad)
    pd.DataFrame({"text": ["a"], "label": ["neutral"]}).to_csv(bad)
    with pytest.raises(DataError, match="no column 'sentence'"):
        load_phrasebank(bad)
    with pytest.raises(DataError, match="not found"):
        load_phrasebank(tmp_path / "missing.csv")


def test_stratified_split() -> None:
    labels = np.array([0] * 50 + [1] * 20 + [2] * 130)
    train, test = stratified_split(labels, 0.2, seed=3)
    assert len(test) == 40 and len(train) == 160
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(200))
    assert np.bincount(labels[test]).tolist() == [10, 4, 26]  # every class keeps its share
    again, _ = stratified_split(labels, 0.2, seed=3)
    other, _ = stratified_split(labels, 0.2, seed=4)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    with pytest.raises(SettingsError):
        stratified_split(labels, 1.5)
    with pytest.raises(DataError, match="at least 2"):
        stratified_split(np.array([0, 0, 1]), 0.5)


def test_train_period_news_excludes_later_dates(tmp_path: Path) -> None:
    days = pd.bdate_range("2010-01-04", periods=10)
    prices = pd.DataFrame({"date": np.repeat(days, 2), "ticker": ["A", "B"] * 10, "close": 1.0})
    prices.to_parquet(tmp_path / "prices.parquet")
    news = pd.DataFrame(
        {
            "date": pd.date_range("2010-01-01", periods=20, freq="D"),
            "title": [f"title {i}" for i in range(20)],
            "lead": [f"lead {i}" for i in range(20)],
        }
    )
    news.to_parquet(tmp_path / "news.parquet")
    texts, last = train_period_news(tmp_path / "news.parquet", tmp_path / "prices.parquet")
    assert last == np.datetime64(days[5].date())  # 60% of 10 trading dates: the first 6
    kept = news[news.date <= days[5]]
    assert texts == [f"title {i}. lead {i}" for i in range(len(kept))]
    sample, _ = train_period_news(tmp_path / "news.parquet", tmp_path / "prices.parquet", limit=3, seed=1)
    assert len(sample) == 3 and set(sample) <= set(texts)
    test_texts, test_last = train_period_news(
        tmp_path / "news.parquet", tmp_path / "prices.parquet", split="test"
    )
    assert test_last == np.datetime64(days[-1].date()) and len(test_texts) > len(texts)
    with pytest.raises(SettingsError, match="split 'holdout'"):
        train_period_news(tmp_path / "news.parquet", tmp_path / "prices.parquet", split="holdout")
    news.assign(date=pd.Timestamp("2011-01-01")).to_parquet(tmp_path / "late.parquet")
    with pytest.raises(DataError, match="no article"):
        train_period_news(tmp_path / "late.parquet", tmp_path / "prices.parquet")


def test_length_batches() -> None:
    lengths = [5, 1, 9, 3, 7, 2, 8]
    plain = length_batches(lengths, 3)
    assert [list(b) for b in plain] == [[1, 5, 3], [0, 4, 6], [2]]
    shuffled = length_batches(lengths, 3, np.random.default_rng(0))
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(7))
    with pytest.raises(SettingsError):
        length_batches(lengths, 0)


# --------------------------------------------------------------------------- MLM
TEXTS = ["the stock rose sharply", "bank profit beat estimates", "oil prices fell", "the market cut jobs"]


def test_masked_lm_fresh_head_and_training(tiny: Path) -> None:
    tok = tokenizer_of(tiny)
    model, fresh = masked_lm(tiny)
    assert "cls.predictions.transform.dense.weight" in fresh  # a bare BertModel folder has no MLM head
    groups = bert_layer_groups(model)
    embeddings = model.base_model.embeddings.word_embeddings.weight
    head = model.cls.predictions.transform.dense.weight
    start_embeddings, start_head = embeddings.detach().clone(), head.detach().clone()
    seen: list[tuple[bool, bool]] = []

    def on_step(step: int, loss: float) -> None:
        seen.append((torch.equal(embeddings, start_embeddings), torch.equal(head, start_head)))

    before = mlm_eval(model, tok, TEXTS * 4, batch_size=8, seed=5)
    report = further_pretrain_mlm(
        model, tok, TEXTS * 16, epochs=3, batch_size=8, lr=3e-3, head_warmup=0.25, seed=0, on_step=on_step
    )
    after = mlm_eval(model, tok, TEXTS * 4, batch_size=8, seed=5)
    assert report.steps == 24 and report.texts == 64 and len(report.train_loss) == 24
    # head warm-up: the first quarter of the steps leaves the body (and the tied embeddings) untouched
    assert seen[0] == (True, False) and seen[5] == (True, False) and seen[6][0] is False
    assert all(p.requires_grad for params in groups for p in params)  # everything unfrozen at the end
    assert after["loss"] < before["loss"] - 0.5 and after["accuracy"] > before["accuracy"]


def test_mlm_is_reproducible(tiny: Path) -> None:
    tok = tokenizer_of(tiny)
    weights = []
    for _ in range(2):
        model, _ = masked_lm(tiny)
        further_pretrain_mlm(model, tok, TEXTS * 4, batch_size=4, seed=7)
        weights.append(model.base_model.encoder.layer[0].attention.self.query.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
    with pytest.raises(DataError):
        further_pretrain_mlm(model, tok, [], seed=0)
    with pytest.raises(SettingsError):
        further_pretrain_mlm(model, tok, TEXTS, head_warmup=1.0)


# --------------------------------------------------------------------------- fine-tuning
def test_unfrozen_groups() -> None:
    assert [unfrozen_groups(s, 4, 2) for s in range(9)] == [1, 1, 2, 2, 3, 3, 4, 4, 4]


def test_sequence_classifier_copies_the_pooler(tiny: Path, tmp_path: Path) -> None:
    mlm, _ = masked_lm(tiny)
    mlm.save_pretrained(tmp_path / "mlm")  # a masked-LM folder holds no pooler
    tokenizer_of(tiny).save_pretrained(tmp_path / "mlm")
    _, fresh_without = sequence_classifier(tmp_path / "mlm")
    assert any("pooler" in k for k in fresh_without)
    model, fresh = sequence_classifier(tmp_path / "mlm", pooler_from=tiny)
    assert fresh == ["classifier.bias", "classifier.weight"]
    from transformers import AutoModel

    source = AutoModel.from_pretrained(str(tiny))
    assert torch.equal(model.base_model.pooler.dense.weight, source.pooler.dense.weight)
    assert model.config.id2label == dict(enumerate(SENTIMENT_LABELS))


def test_finetune_learns_and_follows_the_strategies(tiny: Path) -> None:
    tok = tokenizer_of(tiny)
    texts = ["profit rose sharply", "earnings beat estimates", "loss cut jobs", "shares fell low",
             "the market", "a bank of oil"] * 8
    labels = np.array([0, 0, 1, 1, 2, 2] * 8)
    model, _ = sequence_classifier(tiny)
    settings = ClassifierFinetuneSettings(epochs=8, batch_size=4, lr=2e-2, layer_lr_decay=0.5, seed=0)
    report = finetune_classifier(model, tok, texts, labels, settings)
    n_groups = len(bert_layer_groups(model))  # embeddings, 2 layers, head
    assert report.steps == 96 and report.trainable_groups[0] == 1 and report.trainable_groups[-1] == n_groups
    assert report.trainable_groups == sorted(report.trainable_groups)
    assert report.group_lrs == pytest.approx([2e-2 / 8, 2e-2 / 4, 2e-2 / 2, 2e-2])
    probs = predict_proba(model, tok, texts[:6])
    assert probs.shape == (6, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert probs.argmax(axis=1).tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(SettingsError):
        finetune_classifier(model, tok, texts, labels, ClassifierFinetuneSettings(layer_lr_decay=2.0))
    with pytest.raises(DataError):
        finetune_classifier(model, tok, texts, labels[:-1], settings)


def test_finetune_without_strategies_trains_everything(tiny: Path) -> None:
    tok = tokenizer_of(tiny)
    model, _ = sequence_classifier(tiny)
    before = model.base_model.embeddings.word_embeddings.weight.detach().clone()
    settings = ClassifierFinetuneSettings(epochs=1, batch_size=4, lr=1e-3, stlr=False, layer_lr_decay=1.0,
                                          gradual_unfreezing=False)
    report = finetune_classifier(model, tok, TEXTS, np.array([0, 1, 2, 0]), settings)
    assert report.trainable_groups == [4] and len(set(report.group_lrs)) == 1
    assert not torch.equal(before, model.base_model.embeddings.word_embeddings.weight)


# --------------------------------------------------------------------------- scores, probe, speed
def test_classification_scores() -> None:
    scores = classification_scores(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]))
    assert scores["accuracy"] == 0.75
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)
    with pytest.raises(DataError):
        classification_scores(np.array([0, 1]), np.array([0]))


def test_logistic_probe_separable() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    y = np.repeat(np.arange(3), 30)
    x = centers[y] + rng.normal(size=(90, 2))
    predicted, c = logistic_probe(x[::2], y[::2], x[1::2], seed=0)
    assert classification_scores(y[1::2], predicted)["accuracy"] == 1.0 and c > 0
    with pytest.raises(DataError):
        logistic_probe(x, y, x[:, :1])


def test_embeddings_per_second(tiny: Path) -> None:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(tiny))
    rate = embeddings_per_second(model, tokenizer_of(tiny), TEXTS, batch_size=2)
    assert rate > 0
    with pytest.raises(DataError):
        embeddings_per_second(AutoModel.from_pretrained(str(tiny)), tokenizer_of(tiny), [])


# --------------------------------------------------------------------------- the script
@pytest.mark.slow
@pytest.mark.real_data
def test_adapt_document_encoder_quick(tmp_path: Path) -> None:
    if not (PHRASEBANK.is_file() and (DATA / "us_2006_2013" / "news.parquet").is_file()):
        pytest.skip("shared data not available")
    out = tmp_path / "adapt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "adapt_document_encoder.py"), "--quick", "--threads", "1",
         "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    for key in ("probe", "finetune", "adapted_finetune"):
        assert 0.0 <= results[key]["macro_f1"] <= results[key]["accuracy"] + 1e-9 <= 1.0 + 1e-9
    assert results["data"]["test"] == 30 and results["data"]["train"] == 120
    # the MLM texts come from the first 60% of the trading dates only
    dates = np.unique(pd.read_parquet(DATA / "us_2006_2013" / "prices.parquet", columns=["date"])["date"])
    assert results["mlm"]["last_date"] == str(dates[round(0.6 * len(dates)) - 1])[:10]
    mlm = results["mlm"]
    assert mlm["fresh_head"] is True and mlm["after"]["loss"] < mlm["before"]["loss"]
    assert results["speed"]["minilm"]["texts_per_second"] > results["speed"]["bert_base"]["texts_per_second"]
    assert results["speed"]["bert_base"]["parameters"] > 100e6
    assert results["model_folder"]["reload_max_abs_diff"] < 1e-4
    assert "| (c) MiniLM + Reuters MLM, fine-tuned |" in (out / "results.md").read_text()
    encoder = DocumentEncoder(out / "finbert-minilm")
    assert encoder.labels == SENTIMENT_LABELS and encoder.pooling == "mean"
    assert encoder.encode(["Profit rose"]).shape == (1, 384)
    assert DocumentEncoder(out / "minilm-reuters-mlm").encode(["Profit rose"]).shape == (1, 384)
