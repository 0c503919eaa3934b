"""Fusion: every kind for shapes, gradients and masking."""

from __future__ import annotations

import pytest
import torch

from alpha_env.errors import SettingsError
from encoders import FUSION_KINDS, Fusion, masked_mean

B, L, A, D, OUT = 3, 6, 16, 12, 8


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(kind: str) -> Fusion:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return Fusion(kind, alpha_dim=A, doc_dim=D, out_dim=OUT, num_heads=2).eval()


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    alpha = torch.randn(B, L, A, generator=generator)
    doc = torch.randn(B, D, generator=generator)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2, 2:] = False
    return alpha, doc, mask


@pytest.mark.parametrize("kind", FUSION_KINDS)
def test_shapes_sequence_and_pooled(kind: str) -> None:
    fusion = make(kind)
    alpha, doc, mask = inputs()
    assert fusion(alpha, doc, mask).shape == (B, OUT)
    assert fusion(alpha[:, 0], doc).shape == (B, OUT)


@pytest.mark.parametrize("kind", FUSION_KINDS)
def test_gradients_reach_every_parameter_and_both_inputs(kind: str) -> None:
    fusion = make(kind).train()
    alpha, doc, mask = inputs()
    alpha.requires_grad_(True)
    doc.requires_grad_(True)
    fusion(alpha, doc, mask).square().sum().backward()
    for name, parameter in fusion.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert doc.grad.abs().sum() > 0
    assert alpha.grad[mask].abs().sum() > 0
    assert alpha.grad[~mask].abs().sum() == 0  # padded positions get no gradient


@pytest.mark.parametrize("kind", FUSION_KINDS)
def test_padding_positions_do_not_affect_the_output(kind: str) -> None:
    fusion = make(kind)
    alpha, doc, mask = inputs()
    reference = fusion(alpha, doc, mask)
    noisy = alpha.clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), A) * 100.0
    torch.testing.assert_close(fusion(noisy, doc, mask), reference)
    # Truncating a row's padding is the same as masking it.
    torch.testing.assert_close(fusion(alpha[2:3, :2], doc[2:3]), reference[2:3], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", FUSION_KINDS)
def test_both_inputs_matter(kind: str) -> None:
    fusion = make(kind)
    alpha, doc, mask = inputs()
    reference = fusion(alpha, doc, mask)
    assert not torch.allclose(fusion(alpha, doc + 1.0, mask), reference)
    assert not torch.allclose(fusion(alpha + 1.0, doc, mask), reference)


@pytest.mark.parametrize("kind", FUSION_KINDS)
def test_all_padding_row_is_finite(kind: str) -> None:
    fusion = make(kind)
    alpha, doc, mask = inputs()
    mask[0] = False
    assert torch.isfinite(fusion(alpha, doc, mask)).all()


def test_bad_arguments() -> None:
    with pytest.raises(SettingsError, match="unknown fusion kind"):
        Fusion("sum", A, D, OUT)
    with pytest.raises(SettingsError, match="multiple of num_heads"):
        Fusion("cross_attention", A, D, 10, num_heads=4)
    fusion = make("concat")
    alpha, doc, mask = inputs()
    with pytest.raises(SettingsError, match="doc must be"):
        fusion(alpha, doc[:, :5], mask)
    with pytest.raises(SettingsError, match="mask shape"):
        fusion(alpha, doc, mask[:, :3])


def test_masked_mean() -> None:
    states = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(states, torch.tensor([[True, True, False]])).item() == 2.0
    assert masked_mean(states, torch.tensor([[False, False, False]])).item() == 0.0


def test_cross_attention_alpha_queries_document_keys() -> None:
    fusion = make("cross_attention")
    alpha, doc, mask = inputs()
    seen = {}

    def record(module, args, kwargs):
        query, key, value = args
        seen.update(query=query.shape, key=key.shape)

    handle = fusion.attention.register_forward_pre_hook(record, with_kwargs=True)
    fusion(alpha, doc, mask)
    handle.remove()
    assert seen["query"] == (B, L, OUT)  # one query per alpha token
    assert seen["key"] == (B, fusion.doc_slots, OUT)  # keys/values: the document's slots
    # the alpha chooses among the slots: two alpha tokens of one row attend differently
    query = fusion.query(alpha)
    slots = fusion.slot_norm(fusion.key_value(doc).view(B, fusion.doc_slots, OUT))
    _, weights = fusion.attention(query, slots, slots, need_weights=True)
    assert weights.shape == (B, L, fusion.doc_slots)
    assert not torch.allclose(weights[0, 0], weights[0, 1])
