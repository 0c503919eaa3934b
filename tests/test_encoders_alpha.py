"""AlphaEncoder: shapes, BOS-as-CLS, padding invariance, masking for pretraining, a pretraining run."""

from __future__ import annotations

import pytest
import torch
from encoders_support import FakeCodebook

from alpha_env.errors import SettingsError
from encoders import (
    AlphaEncoder,
    AlphaEncoderConfig,
    mask_tokens,
    masked_token_accuracy,
    pad_sequences,
    pretrain_alpha_encoder,
)
from encoders.pretrain import IGNORE_INDEX

CODEBOOK = FakeCodebook(size=24)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, 2 threads spin and run ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_encoder(seed: int = 0, **overrides) -> AlphaEncoder:
    config = AlphaEncoderConfig.from_codebook(
        CODEBOOK,
        **{
            "hidden_size": 32,
            "num_layers": 2,
            "num_heads": 2,
            "intermediate_size": 64,
            "max_len": 16,
            **overrides,
        },
    )
    return AlphaEncoder(config, seed=seed).eval()


def test_config_from_codebook_and_validation() -> None:
    config = AlphaEncoderConfig.from_codebook(CODEBOOK)
    assert (config.vocab_size, config.codebook_version, config.bos_id, config.mask_id) == (
        24,
        "test-v1",
        1,
        24,
    )
    with pytest.raises(SettingsError, match="multiple of num_heads"):
        AlphaEncoderConfig(vocab_size=24, codebook_version="v", hidden_size=30, num_heads=4)
    with pytest.raises(SettingsError, match="pad_id"):
        AlphaEncoderConfig(vocab_size=24, codebook_version="v", pad_id=3)


def test_shapes_and_bos_prepended() -> None:
    enc = tiny_encoder()
    ids = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
    out = enc(ids)
    assert out.sequence.shape == (2, 6, 32) and out.pooled.shape == (2, 32) and out.mask.shape == (2, 6)
    assert out.mask[:, 0].all() and out.mask.sum(dim=1).tolist() == [4, 3]
    with_bos = torch.cat([torch.ones(2, 1, dtype=torch.long), ids], dim=1)
    torch.testing.assert_close(enc(with_bos).pooled, out.pooled)  # a leading BOS is not doubled
    with pytest.raises(SettingsError, match="start with BOS"):
        enc(torch.tensor([[1, 5, 6], [5, 6, 7]]))


def test_padding_does_not_change_real_positions() -> None:
    enc = tiny_encoder()
    short = enc(torch.tensor([[5, 6, 7]]))
    padded = enc(torch.tensor([[5, 6, 7, 0, 0, 0, 0]]))
    torch.testing.assert_close(padded.pooled, short.pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded.sequence[:, :4], short.sequence, atol=1e-5, rtol=1e-5)


def test_different_expressions_differ_and_seed_is_reproducible() -> None:
    a, b = tiny_encoder(seed=3), tiny_encoder(seed=3)
    ids = torch.tensor([[5, 6, 7], [5, 7, 6]])
    torch.testing.assert_close(a(ids).pooled, b(ids).pooled)
    pooled = a(ids).pooled
    assert not torch.allclose(pooled[0], pooled[1])
    assert not torch.allclose(tiny_encoder(seed=4)(ids).pooled, pooled)


def test_bad_ids_and_lengths() -> None:
    enc = tiny_encoder()
    with pytest.raises(SettingsError, match="token id 99"):
        enc(torch.tensor([[5, 99]]))
    with pytest.raises(SettingsError, match="max_len 16"):
        enc(torch.full((1, 17), 5))


def test_mlm_logits_shape_and_layer_groups() -> None:
    enc = tiny_encoder()
    assert enc.mlm_logits(torch.tensor([[5, 6, 0]])).shape == (1, 4, 24)
    groups = enc.layer_groups()
    assert len(groups) == 2 + 2  # embeddings, 2 layers, pooler + head
    flat = [id(p) for g in groups for p in g]
    assert len(flat) == len(set(flat)) == len(list(enc.parameters()))


def test_mask_tokens_follows_bert_recipe() -> None:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 24, (400, 20), generator=generator)
    ids[:, 15:] = 0
    maskable = ids != 0
    inputs, labels = mask_tokens(
        ids,
        mask_id=24,
        vocab_size=24,
        maskable=maskable,
        generator=generator,
        replacements=torch.arange(3, 24),
    )
    chosen = labels != IGNORE_INDEX
    assert not chosen[:, 15:].any()  # padding is never chosen
    assert chosen.any(dim=1).all()  # every row has a target
    assert 0.12 < chosen.float().sum() / maskable.sum() < 0.19
    torch.testing.assert_close(labels[chosen], ids[chosen])
    torch.testing.assert_close(inputs[~chosen], ids[~chosen])
    share_masked = (inputs[chosen] == 24).float().mean()
    assert 0.74 < share_masked < 0.86
    assert (inputs[chosen & (inputs != 24)] >= 3).all()  # random replacements are never specials


def _toy_corpus(n: int, seed: int) -> list[list[int]]:
    """Sequences ``a b a b ...`` of random tokens a, b: a masked token is recoverable from its row."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        a, b = torch.randint(3, 24, (2,), generator=generator).tolist()
        length = int(torch.randint(4, 12, (1,), generator=generator))
        out.append([a if k % 2 == 0 else b for k in range(length)])
    return out


def test_pretraining_learns_the_structure() -> None:
    enc = tiny_encoder()
    train, valid = _toy_corpus(256, seed=0), _toy_corpus(64, seed=1)
    before = masked_token_accuracy(enc, valid, seed=5)
    history = pretrain_alpha_encoder(enc, train, valid=valid, epochs=8, batch_size=16, lr=1e-2, seed=0)
    assert len(history.train_loss) == 8 and history.steps == 8 * 16
    assert history.train_loss[-1] < history.train_loss[0] - 1.0
    after = masked_token_accuracy(enc, valid, seed=5)
    assert before < 0.2 and after > 0.6, (before, after)
    assert history.valid_accuracy[-1] == pytest.approx(masked_token_accuracy(enc, valid, seed=1))


def test_pretraining_is_seeded_and_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    corpus = _toy_corpus(32, seed=2)
    a, b = tiny_encoder(), tiny_encoder()
    pretrain_alpha_encoder(a, corpus, epochs=1, batch_size=16, seed=9)
    pretrain_alpha_encoder(b, corpus, epochs=1, batch_size=16, seed=9)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_pad_sequences() -> None:
    assert pad_sequences([[3, 4], [5]]).tolist() == [[3, 4], [5, 0]]
    with pytest.raises(SettingsError, match="does not fit"):
        pad_sequences([[1, 2, 3]], length=2)
