"""DocumentEncoder: loading from folders, pooling, batching, the on-disk cache, sentiment, offline errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from encoders_support import save_tiny_bert

from alpha_env.errors import AlphaEnvError, DataError, SettingsError
from encoders import (
    DocumentEncoder,
    EmbeddingCache,
    ModelNotAvailableError,
    bundled_model_path,
    resolve_model,
)
from encoders.cache import text_key
from encoders.resolve import BUNDLED_MODEL_NAME, model_fingerprint

TEXTS = [
    "the stock fell sharply",
    "earnings beat estimates and shares rose",
    "oil prices cut",
    "the bank missed estimates",
    "record high",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(scope="module")
def tiny_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert-cls", classifier=True, seed=1)


def test_folder_round_trip_matches_transformers(tiny_dir: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    enc = DocumentEncoder(tiny_dir, pooling="cls", batch_size=2)
    out = enc.encode(TEXTS)
    assert out.shape == (len(TEXTS), 32) and out.dtype == np.float32
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    model = AutoModel.from_pretrained(tiny_dir, local_files_only=True).eval()
    with torch.no_grad():
        batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
        expected = model(**batch).last_hidden_state[:, 0].numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert enc.forward_calls == 3  # 5 texts in batches of 2


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_padding_does_not_change_a_vector(tiny_dir: Path, pooling: str) -> None:
    alone = DocumentEncoder(tiny_dir, pooling=pooling).encode(["oil"])
    long_text = "the stock fell sharply and the bank missed estimates in the market"
    batched = DocumentEncoder(tiny_dir, pooling=pooling, batch_size=8).encode([long_text, "oil"])
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-5)


def test_mean_pooling_differs_from_cls(tiny_dir: Path) -> None:
    cls = DocumentEncoder(tiny_dir, pooling="cls").encode(TEXTS[:2])
    mean = DocumentEncoder(tiny_dir, pooling="mean").encode(TEXTS[:2])
    assert not np.allclose(cls, mean)


def test_second_encode_is_served_from_disk_cache(tiny_dir: Path, tmp_path: Path) -> None:
    first = DocumentEncoder(tiny_dir, cache_dir=tmp_path, batch_size=2)
    vectors = first.encode(TEXTS)
    calls = first.forward_calls
    assert calls > 0 and first.texts_encoded == len(TEXTS)
    np.testing.assert_array_equal(first.encode(TEXTS[::-1]), vectors[::-1])
    assert first.forward_calls == calls  # no model call the second time
    # A fresh encoder (a new process, say) on the same folder: no model call, the model is not even loaded.
    second = DocumentEncoder(tiny_dir, cache_dir=tmp_path)
    np.testing.assert_array_equal(second.encode(TEXTS), vectors)
    assert second.forward_calls == 0 and second._model is None
    assert second.cache.hits == len(TEXTS) and second.cache.misses == 0
    # Only the new text goes through the model.
    second.encode([*TEXTS, "jobs cut"])
    assert second.texts_encoded == 1


def test_cache_is_keyed_by_settings_and_duplicates_encoded_once(tiny_dir: Path, tmp_path: Path) -> None:
    cls = DocumentEncoder(tiny_dir, cache_dir=tmp_path, pooling="cls")
    cls.encode(["oil", "oil", "oil", "record high"])
    assert cls.texts_encoded == 2
    mean = DocumentEncoder(tiny_dir, cache_dir=tmp_path, pooling="mean")
    mean.encode(["oil"])
    assert mean.texts_encoded == 1  # another pooling is another cache namespace
    assert cls.encoder_id != mean.encoder_id
    assert EmbeddingCache(tmp_path).count() == 3


def test_changed_weights_change_the_model_id(tiny_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dir, copy)
    assert model_fingerprint(copy) == model_fingerprint(tiny_dir)  # a copy keeps its cache entries
    save_tiny_bert(copy, seed=7)
    assert model_fingerprint(copy) != model_fingerprint(tiny_dir)


def test_cache_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 5)).astype(np.float32)
    keys = [text_key(t) for t in ("a", "b", "c")]
    with EmbeddingCache(tmp_path) as cache:
        cache.put("m", keys, vectors)
    with EmbeddingCache(tmp_path) as cache:
        got = cache.get("m", keys + [text_key("d")])
        assert set(got) == set(keys)
        np.testing.assert_array_equal(np.stack([got[k] for k in keys]), vectors)
        assert cache.get("other", keys) == {}


def test_sentiment_with_classification_head(tiny_classifier_dir: Path, tmp_path: Path) -> None:
    enc = DocumentEncoder(tiny_classifier_dir, cache_dir=tmp_path)
    assert enc.has_classifier and enc.labels == ("positive", "negative", "neutral")
    probs = enc.sentiment(TEXTS)
    assert probs.shape == (len(TEXTS), 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    calls = enc.forward_calls
    np.testing.assert_allclose(enc.polarity(TEXTS), probs[:, 0] - probs[:, 1], atol=1e-6)
    assert enc.forward_calls == calls  # cached
    assert enc.encode(TEXTS[:2]).shape == (2, 32)  # the same model also embeds (its base model)
    # the probabilities are the softmax of the transformers head's logits, columns in label order
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir, local_files_only=True)
    with torch.no_grad():
        batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
        expected = torch.softmax(model.eval()(**batch).logits, dim=-1).numpy()
    assert [model.config.id2label[i] for i in range(3)] == list(enc.labels)
    assert np.abs(expected[:, 0] - expected[:, 1]).max() > 1e-3  # a column swap would show
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_allclose(enc.polarity(TEXTS), expected[:, 0] - expected[:, 1], atol=1e-5)


def test_sentiment_without_head_is_a_clear_error(tiny_dir: Path) -> None:
    with pytest.raises(SettingsError, match="no classification head"):
        DocumentEncoder(tiny_dir).sentiment(["oil"])


def test_unavailable_hub_model_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    with pytest.raises(ModelNotAvailableError) as info:
        DocumentEncoder("ProsusAI/finbert")
    message = str(info.value)
    assert "ProsusAI/finbert" in message and "not available offline" in message
    assert "save_pretrained" in message and "DocumentEncoder(model=" in message
    assert isinstance(info.value, AlphaEnvError)


def test_bad_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        DocumentEncoder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailableError, match="no config.json"):
        DocumentEncoder(tmp_path / "empty")


def test_bad_inputs_and_settings(tiny_dir: Path) -> None:
    enc = DocumentEncoder(tiny_dir)
    with pytest.raises(DataError, match=r"texts\[1\] is float"):
        enc.encode(["oil", float("nan")])
    with pytest.raises(SettingsError, match="pooling"):
        DocumentEncoder(tiny_dir, pooling="max")
    with pytest.raises(SettingsError, match="batch_size"):
        DocumentEncoder(tiny_dir, batch_size=0)
    assert enc.encode([]).shape == (0, 32)
    assert enc.encode("oil").shape == (1, 32)


def test_progress_bar_on_long_jobs(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    DocumentEncoder(tiny_dir, batch_size=1, show_progress=True).encode(TEXTS)
    assert "encoding" in capsys.readouterr().err
    DocumentEncoder(tiny_dir, batch_size=1).encode(TEXTS)  # 5 batches: below the automatic threshold
    assert "encoding" not in capsys.readouterr().err


def test_bundled_minilm_offline() -> None:
    path = bundled_model_path()
    assert (path / "config.json").is_file() and json.loads((path / "config.json").read_text())[
        "hidden_size"
    ] == 384
    resolved = resolve_model(None)
    assert resolved.name == BUNDLED_MODEL_NAME and resolved.path == path and resolved.pooling_hint == "mean"
    enc = DocumentEncoder(normalize=True)
    assert enc.pooling == "mean" and enc.dim == 384
    vectors = enc.encode(
        ["Shares of the bank fell sharply", "The bank's stock dropped a lot", "A recipe for soup"]
    )
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.2
