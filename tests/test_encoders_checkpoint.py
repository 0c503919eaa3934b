"""Checkpoints: exact round trips, the codebook guard, clear errors on bad files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from encoders_support import FakeCodebook

from alpha_env.grammar import Codebook
from encoders import (
    AlphaDecoder,
    AlphaDecoderConfig,
    AlphaEncoder,
    AlphaEncoderConfig,
    CheckpointError,
    CodebookMismatchError,
    load_checkpoint,
    save_checkpoint,
)

CODEBOOK = FakeCodebook(size=24, version="test-v1")


def small_encoder() -> AlphaEncoder:
    config = AlphaEncoderConfig.from_codebook(
        CODEBOOK, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32
    )
    return AlphaEncoder(config, seed=0).eval()


def small_decoder() -> AlphaDecoder:
    config = AlphaDecoderConfig.from_codebook(
        CODEBOOK, d_model=16, num_layers=2, num_heads=2, ff_size=32, max_len=10, doc_dim=4
    )
    return AlphaDecoder(config, seed=0).eval()


def test_decoder_round_trip_is_exact(tmp_path: Path) -> None:
    dec = small_decoder()
    path = save_checkpoint(dec, tmp_path / "sub" / "decoder.pt", extra={"epoch": 3, "accuracy": [0.5, 0.7]})
    loaded = load_checkpoint(path, CODEBOOK, kind="alpha_decoder")
    assert isinstance(loaded.model, AlphaDecoder) and loaded.model.config == dec.config
    assert loaded.extra == {"epoch": 3, "accuracy": [0.5, 0.7]} and loaded.codebook_version == "test-v1"
    prefix, docs = torch.tensor([[5, 6, 0], [7, 0, 0]]), torch.randn(2, 4)
    expected = dec.next_token_logits(prefix, None, dec.memory(doc=docs))
    got = loaded.model.next_token_logits(prefix, None, loaded.model.memory(doc=docs))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert not list(tmp_path.glob("sub/.*tmp"))  # no temporary file left behind


def test_encoder_round_trip_is_exact(tmp_path: Path) -> None:
    enc = small_encoder()
    save_checkpoint(enc, tmp_path / "encoder.pt")
    loaded = load_checkpoint(tmp_path / "encoder.pt", "test-v1")  # a version string is enough
    ids = torch.tensor([[5, 6, 7]])
    torch.testing.assert_close(loaded.model(ids).pooled, enc(ids).pooled, rtol=0, atol=0)


def test_another_codebook_version_is_refused(tmp_path: Path) -> None:
    save_checkpoint(small_decoder(), tmp_path / "d.pt")
    with pytest.raises(CodebookMismatchError, match=r"codebook version 'test-v1'.*'test-v2'"):
        load_checkpoint(tmp_path / "d.pt", FakeCodebook(size=24, version="test-v2"))
    with pytest.raises(CodebookMismatchError, match="saved for 24 tokens but the codebook has 30"):
        load_checkpoint(tmp_path / "d.pt", FakeCodebook(size=30, version="test-v1"))


def test_real_codebook_guard(tmp_path: Path) -> None:
    codebook = Codebook.default()
    config = AlphaDecoderConfig.from_codebook(codebook, d_model=16, num_layers=1, num_heads=2, ff_size=32)
    save_checkpoint(AlphaDecoder(config, seed=0), tmp_path / "d.pt")
    assert load_checkpoint(tmp_path / "d.pt", codebook).model.config.vocab_size == len(codebook)
    extended = codebook.extend(fields=["sentiment_score"])
    assert extended.version != codebook.version
    with pytest.raises(CodebookMismatchError, match=codebook.version):
        load_checkpoint(tmp_path / "d.pt", extended)


def test_kind_and_file_errors(tmp_path: Path) -> None:
    save_checkpoint(small_encoder(), tmp_path / "e.pt")
    with pytest.raises(CheckpointError, match="holds an alpha_encoder, not an alpha_decoder"):
        load_checkpoint(tmp_path / "e.pt", CODEBOOK, kind="alpha_decoder")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt", CODEBOOK)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "junk.pt", CODEBOOK)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an alpha-env checkpoint"):
        load_checkpoint(tmp_path / "other.pt", CODEBOOK)
    with pytest.raises(CheckpointError, match="cannot checkpoint a Linear"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")


def test_model_kinds_name_each_class_by_its_kind():
    from encoders import MODEL_KINDS

    assert sorted(MODEL_KINDS) == ["alpha_decoder", "alpha_encoder", "alpha_tree_encoder"]
    for kind, (model_class, config_class) in MODEL_KINDS.items():
        assert model_class.kind == kind and config_class.__name__ == model_class.__name__ + "Config"


def test_loading_a_decoder_does_not_import_transformers(tmp_path: Path):
    """The alpha encoders' module (and ``transformers``, about 1.3 s) is imported only for their kinds."""
    path = save_checkpoint(small_decoder(), tmp_path / "decoder.pt")
    code = ("import sys; from encoders import load_checkpoint; from encoders_support import FakeCodebook; "
            f"m = load_checkpoint({str(path)!r}, FakeCodebook(size=24, version='test-v1')).model; "
            "print(type(m).__name__, 'transformers' in sys.modules, 'encoders.alpha_encoder' in sys.modules)")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'tests'}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env).stdout.split()
    assert out == ["AlphaDecoder", "False", "False"]
