"""AlphaDecoder: shapes, causality, the PPO-facing next_token, memory, masked generation, pretraining."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from encoders_support import FakeCodebook

from alpha_env import grammar
from alpha_env.errors import SettingsError
from encoders import (
    AlphaDecoder,
    AlphaDecoderConfig,
    AlphaEncoder,
    AlphaEncoderConfig,
    CodebookMismatchError,
    discriminative_groups,
    next_token_accuracy,
    pretrain_decoder,
    slanted_triangular,
    teacher_forcing,
    unfreeze_top,
)
from encoders.pretrain import IGNORE_INDEX

V = 24
CODEBOOK = FakeCodebook(size=V)
SMALL = {"d_model": 32, "num_layers": 2, "num_heads": 2, "ff_size": 64, "max_len": 12}


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_decoder(seed: int = 0, codebook=CODEBOOK, **overrides) -> AlphaDecoder:
    config = AlphaDecoderConfig.from_codebook(codebook, **{**SMALL, **overrides})
    return AlphaDecoder(config, seed=seed).eval()


def random_ids(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, V, (batch, length), generator=generator)
    ids[:, 0] = CODEBOOK.BOS
    return ids


def test_forward_shapes() -> None:
    dec = tiny_decoder()
    logits, hidden = dec(random_ids(3, 7))
    assert logits.shape == (3, 7, V) and hidden.shape == (3, 7, 32)


def test_causality_future_tokens_do_not_change_earlier_logits() -> None:
    dec = tiny_decoder(doc_dim=8)
    ids = random_ids(2, 10)
    memory = dec.memory(doc=torch.randn(2, 8, generator=torch.Generator().manual_seed(1)))
    logits, hidden = dec(ids, memory)
    for cut in (1, 4, 9):
        changed = ids.clone()
        changed[:, cut:] = torch.randint(
            3, V, changed[:, cut:].shape, generator=torch.Generator().manual_seed(cut)
        )
        other_logits, other_hidden = dec(changed, memory)
        torch.testing.assert_close(other_logits[:, :cut], logits[:, :cut], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(other_hidden[:, :cut], hidden[:, :cut], atol=1e-5, rtol=1e-5)
        assert not torch.allclose(other_logits[:, cut:], logits[:, cut:])


def test_next_token_matches_forward_and_ignores_padding() -> None:
    dec = tiny_decoder()
    prefix = torch.tensor([[5, 6, 7, 0, 0, 0], [8, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([3, 1, 0])
    logits, hidden = dec.next_token(prefix, lengths)
    assert logits.shape == (3, V) and hidden.shape == (3, 32)
    full_logits, full_hidden = dec(dec.with_bos(prefix))
    for row, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(logits[row], full_logits[row, n], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(hidden[row], full_hidden[row, n], atol=1e-5, rtol=1e-5)
    # Wider padding (the env's fixed max_len) gives the same answer; lengths default to the non-PAD count.
    wide = torch.cat([prefix, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(dec.next_token_logits(wide), logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dec.last_hidden(wide, lengths), hidden, atol=1e-5, rtol=1e-5)
    # Each row alone equals the row in the batch.
    torch.testing.assert_close(
        dec.next_token_logits(prefix[:1], lengths[:1]), logits[:1], atol=1e-5, rtol=1e-5
    )


def test_next_token_rejects_bad_lengths() -> None:
    dec = tiny_decoder()
    with pytest.raises(SettingsError, match="lengths"):
        dec.next_token(torch.zeros(1, 4, dtype=torch.long), torch.tensor([5]))
    with pytest.raises(SettingsError, match="exceeds max_len"):
        dec.next_token(torch.full((1, 14), 5), torch.tensor([13]))
    with pytest.raises(SettingsError, match="token id 99"):
        dec(torch.tensor([[1, 99]]))


def test_memory_document_and_alpha_states() -> None:
    encoder = AlphaEncoder(
        AlphaEncoderConfig.from_codebook(
            CODEBOOK, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32
        ),
        seed=0,
    ).eval()
    dec = tiny_decoder(doc_dim=8, alpha_dim=16, doc_slots=3)
    docs = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    encoding = encoder(torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]]))
    memory = dec.memory(doc=docs, alpha=encoding.sequence, alpha_mask=encoding.mask)
    assert memory.states.shape == (2, 1 + 3 + 5, 32) and memory.mask.sum(dim=1).tolist() == [
        1 + 3 + 4,
        1 + 3 + 3,
    ]
    prefix = torch.tensor([[5, 6], [7, 0]])
    with_memory = dec.next_token_logits(prefix, None, memory)
    assert not torch.allclose(with_memory, dec.next_token_logits(prefix))  # the memory is read
    other_docs = dec.memory(doc=docs.flip(0), alpha=encoding.sequence, alpha_mask=encoding.mask)
    assert not torch.allclose(with_memory, dec.next_token_logits(prefix, None, other_docs))
    # Masked alpha positions do not matter.
    noisy = encoding.sequence.clone()
    noisy[~encoding.mask] = 50.0
    noisy_memory = dec.memory(doc=docs, alpha=noisy, alpha_mask=encoding.mask)
    torch.testing.assert_close(
        dec.next_token_logits(prefix, None, noisy_memory), with_memory, atol=1e-5, rtol=1e-5
    )
    # A one-row memory is shared by every row.
    shared = dec.memory(doc=docs[:1])
    torch.testing.assert_close(
        dec.next_token_logits(prefix, None, shared)[1], dec.next_token_logits(prefix[1:], None, shared)[0]
    )
    with pytest.raises(SettingsError, match="doc_dim=0"):
        tiny_decoder().memory(doc=docs)


def test_gradients_reach_every_parameter() -> None:
    dec = tiny_decoder(doc_dim=8, alpha_dim=16).train()
    memory = dec.memory(doc=torch.randn(2, 8), alpha=torch.randn(2, 3, 16))
    logits, _ = dec(random_ids(2, 6), memory)
    logits.logsumexp(dim=-1).sum().backward()
    for name, parameter in dec.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_layer_groups_and_finetuning_helpers() -> None:
    dec = tiny_decoder(doc_dim=8)
    groups = dec.layer_groups()
    assert len(groups) == 1 + 2 + 1
    flat = [id(p) for g in groups for p in g]
    assert len(flat) == len(set(flat)) == len(list(dec.parameters()))
    param_groups = discriminative_groups(groups, lr=1e-3, decay=0.5)
    assert [g["lr"] for g in param_groups] == pytest.approx([1.25e-4, 2.5e-4, 5e-4, 1e-3])
    unfreeze_top(groups, 1)
    assert all(p.requires_grad for p in groups[-1]) and not any(
        p.requires_grad for g in groups[:-1] for p in g
    )
    unfreeze_top(groups, 10)
    assert all(p.requires_grad for p in dec.parameters())
    rates = [slanted_triangular(step, 100) for step in range(101)]
    assert (
        rates[0] == pytest.approx(1 / 32)
        and max(rates) == pytest.approx(1.0)
        and rates[10] == pytest.approx(1)
    )
    assert rates[-1] == pytest.approx(1 / 32) and np.argmax(rates) == 10


def _alternating_state(codebook, max_len):
    """A toy grammar: tokens alternate between the sets {3..12} and {13..23}; END after >= 2 tokens."""

    class State:
        def __init__(self) -> None:
            self.ids: list[int] = []

        def mask(self) -> np.ndarray:
            mask = np.zeros(len(codebook), dtype=bool)
            if len(self.ids) < max_len:
                low = len(self.ids) % 2 == 0
                mask[3:13] = low
                mask[13:] = not low
            mask[codebook.END] = len(self.ids) >= 2
            return mask

        def push(self, token: int) -> None:
            assert self.mask()[token], (self.ids, token)
            self.ids.append(token)

    return State()


def test_generate_only_writes_allowed_tokens_and_is_seeded() -> None:
    dec = tiny_decoder()
    samples = dec.generate(
        64, CODEBOOK, max_len=8, generator=torch.Generator().manual_seed(0), state_factory=_alternating_state
    )
    assert len(samples) == 64 and all(2 <= len(s) <= 8 for s in samples)
    for seq in samples:
        assert all((3 <= t < 13) if i % 2 == 0 else (t >= 13) for i, t in enumerate(seq))
    again = dec.generate(
        64, CODEBOOK, max_len=8, generator=torch.Generator().manual_seed(0), state_factory=_alternating_state
    )
    assert again == samples
    greedy = dec.generate(3, CODEBOOK, max_len=8, greedy=True, state_factory=_alternating_state)
    assert greedy[0] == greedy[1] == greedy[2]


def test_generate_rejects_another_codebook() -> None:
    dec = tiny_decoder()
    with pytest.raises(CodebookMismatchError, match="test-v1"):
        dec.generate(1, FakeCodebook(size=V, version="other"), state_factory=_alternating_state)


def test_generate_with_the_real_grammar_never_writes_a_masked_token() -> None:
    codebook = grammar.Codebook.default()
    dec = tiny_decoder(codebook=codebook, max_len=20)
    samples = dec.generate(32, codebook, max_len=15, generator=torch.Generator().manual_seed(1))
    for seq in samples:
        state = grammar.GrammarState(codebook, 15)
        for token in seq:
            assert state.mask()[token] and codebook.agent_vocabulary[token]
            state.push(token)
        assert state.complete and len(seq) <= 15
        assert grammar.canonical(codebook.decode(seq))  # decodes to an expression


def test_teacher_forcing_layout() -> None:
    inputs, targets = teacher_forcing([[5, 6, 7], [1, 8, 2]], bos_id=1, end_id=2)
    assert inputs.tolist() == [[1, 5, 6, 7], [1, 8, 0, 0]]
    assert targets.tolist() == [[5, 6, 7, 2], [8, 2, IGNORE_INDEX, IGNORE_INDEX]]


def _counting_corpus(n: int, seed: int) -> list[list[int]]:
    """Runs ``s, s+1, s+2, ...`` (ids 3..23): the next token is predictable from the previous one."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        start = int(rng.integers(3, 14))
        out.append(list(range(start, start + int(rng.integers(3, 10)))))
    return out


def test_pretraining_learns_next_tokens_with_documents() -> None:
    dec = tiny_decoder(doc_dim=4, dropout=0.0)
    train, valid = _counting_corpus(256, 0), _counting_corpus(64, 1)
    docs = np.zeros((256, 4), dtype=np.float32)
    before = next_token_accuracy(dec, valid, docs=np.zeros((64, 4), dtype=np.float32))
    history = pretrain_decoder(
        dec,
        train,
        docs=docs,
        valid=valid,
        valid_docs=np.zeros((64, 4), np.float32),
        epochs=6,
        batch_size=16,
        lr=1e-2,
        seed=0,
    )
    assert history.train_loss[-1] < history.train_loss[0] - 1.0
    assert before < 0.2 and history.valid_accuracy[-1] > 0.6, (before, history.valid_accuracy)
    with pytest.raises(SettingsError, match="docs must be"):
        pretrain_decoder(dec, train, docs=docs[:10], epochs=1)
