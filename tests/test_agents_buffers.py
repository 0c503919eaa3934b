"""PPO minibatches of whole episodes (agents.buffers) and the decoder's shared causal pass over them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.env_util import make_vec_env

from agents import FineTuneSettings, build_agent
from agents.buffers import (
    EpisodeDictRolloutBuffer,
    MaskableEpisodeDictRolloutBuffer,
    episode_minibatches,
    episode_segments,
)
from alpha_env.data import synthetic_market
from alpha_env.env import AlphaStackEnv
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook
from encoders import AlphaDecoder, AlphaDecoderConfig, prefix_chains

MAX_LEN = 10
CODEBOOK = Codebook.default()

pytestmark = pytest.mark.usefixtures("single_thread_torch")


# ---------------------------------------------------------------- segments and minibatches
def test_segments_are_environment_major_and_start_at_each_environment():
    starts = np.zeros((5, 2))  # (n_steps, n_envs)
    starts[0, 0] = 1
    starts[3, 0] = 1  # env 0: episodes at steps 0 and 3
    starts[2, 1] = 1  # env 1: a segment continued from the last rollout (steps 0-1), then step 2 on
    np.testing.assert_array_equal(episode_segments(starts), [0, 3, 5, 7, 10])
    with pytest.raises(SettingsError, match="n_steps, n_envs"):
        episode_segments(np.zeros(4))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_steps=st.integers(1, 40), n_envs=st.integers(1, 5),
       batch=st.integers(1, 64), p=st.floats(0.0, 1.0))
def test_each_step_once_in_whole_segments(seed, n_steps, n_envs, batch, p):
    rng = np.random.default_rng(seed)
    bounds = episode_segments(rng.random((n_steps, n_envs)) < p)
    batches = episode_minibatches(bounds, batch, np.random.default_rng(seed))
    together = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(together), np.arange(n_steps * n_envs))  # each step once
    assert all(b.size >= batch for b in batches[:-1]) and batches[-1].size > 0
    segment_of = np.searchsorted(bounds, together, side="right") - 1
    for b in batches:  # whole segments, each in order and contiguous
        seg = np.searchsorted(bounds, b, side="right") - 1
        for k in np.unique(seg):
            np.testing.assert_array_equal(b[seg == k], np.arange(bounds[k], bounds[k + 1]))
            assert np.all(np.diff(np.flatnonzero(seg == k)) == 1)
    assert len(np.unique(segment_of)) == len(bounds) - 1
    again = episode_minibatches(bounds, batch, np.random.default_rng(seed))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))  # seeded


def test_minibatch_size_must_be_positive():
    with pytest.raises(SettingsError, match="batch_size"):
        episode_minibatches(np.array([0, 3]), 0, np.random.default_rng(0))


# ---------------------------------------------------------------- the decoder's shared pass
def _decoder(doc_dim: int = 6) -> AlphaDecoder:
    config = AlphaDecoderConfig.from_codebook(CODEBOOK, max_len=16, d_model=16, num_layers=2, num_heads=2,
                                              ff_size=32, doc_dim=doc_dim, dropout=0.0)
    return AlphaDecoder(config, seed=1).eval()


def _episodes(seed: int, doc_dim: int = 6):
    """Rows of consecutive steps of several episodes (some starting mid-way, as after a rollout's edge),
    episodes of the same document side by side, an empty prefix, and a repeated row."""
    g = torch.Generator().manual_seed(seed)
    rows, lengths, docs = [], [], []
    shared = torch.randn(doc_dim, generator=g)
    for ep in range(7):
        n = int(torch.randint(1, 12, (1,), generator=g))
        tokens = torch.randint(3, len(CODEBOOK), (n,), generator=g)
        doc = shared if ep < 3 else torch.randn(doc_dim, generator=g) * (ep != 4)
        for p in range(ep % 3, n + 1):
            r = torch.zeros(14, dtype=torch.long)
            r[:p] = tokens[:p]
            rows.append(r)
            lengths.append(p)
            docs.append(doc)
    rows.append(rows[-1])
    lengths.append(lengths[-1])
    docs.append(docs[-1])
    return torch.stack(rows), torch.tensor(lengths), torch.stack(docs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shared_pass_gives_the_same_outputs_bit_for_bit(seed):
    dec = _decoder()
    prefix, lengths, docs = _episodes(seed)
    memory = dec.memory(doc=docs)
    with torch.no_grad():
        alone = dec.next_token(prefix, lengths, memory)
        shared = dec.next_token(prefix, lengths, memory, share=True)
        perm = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed))
        mixed = dec.next_token(prefix[perm], lengths[perm], memory.select(perm), share=True)
        plain = dec.next_token(prefix, lengths, None, share=True)  # the null memory: chains by tokens
        plain_alone = dec.next_token(prefix, lengths, None)
    for a, b in zip(alone, shared, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(alone, mixed, strict=True):
        assert torch.equal(a[perm], b)
    for a, b in zip(plain_alone, plain, strict=True):
        assert torch.equal(a, b)


def test_shared_pass_gradients_are_the_same_sums():
    prefix, lengths, docs = _episodes(5)
    grads = []
    for share in (False, True):
        dec = _decoder()
        logits, hidden = dec.next_token(prefix, lengths, dec.memory(doc=docs), share=share)
        (logits.log_softmax(-1)[:, 5].sum() + hidden.square().sum()).backward()
        grads.append({n: p.grad.clone() for n, p in dec.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6)


def test_prefix_chains_join_only_continued_prefixes_of_one_memory():
    dec = _decoder()
    prefix = torch.tensor([[5, 0, 0], [5, 6, 0], [5, 6, 7],  # one episode
                           [5, 6, 0],  # shorter than the row before: a new chain
                           [5, 9, 0],  # another token at a shared position: a new chain
                           [5, 9, 0],  # the same row again: joins
                           [5, 9, 4]])  # continues it, but with another document below
    lengths = torch.tensor([1, 2, 3, 2, 2, 2, 3])
    docs = torch.zeros(7, 6)
    docs[6] = 1.0
    ids = dec.with_bos(prefix)
    last, source = prefix_chains(ids, lengths, dec.memory(doc=docs))
    assert last.tolist() == [2, 3, 5, 6]
    assert source.tolist() == [0, 0, 0, 1, 2, 2, 3]
    last, source = prefix_chains(ids, lengths)  # no memory: the last row joins
    assert last.tolist() == [2, 3, 6] and source.tolist() == [0, 0, 0, 1, 2, 2, 2]


# ---------------------------------------------------------------- the agents
@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=0, n_stocks=20, n_days=260)


@pytest.fixture(scope="module")
def decoder_config():
    return AlphaDecoderConfig.from_codebook(CODEBOOK, max_len=MAX_LEN, d_model=16, num_layers=2, num_heads=2,
                                            ff_size=32, doc_dim=384).to_dict()


def _vec(panel, n_envs=2):
    return make_vec_env(lambda: AlphaStackEnv(panel, max_len=MAX_LEN, cache_bytes=16 * 2**20), n_envs=n_envs,
                        seed=0)


@pytest.mark.parametrize("algo, buffer", [("ppo", EpisodeDictRolloutBuffer),
                                          ("maskable_ppo", MaskableEpisodeDictRolloutBuffer)])
def test_agents_train_on_episode_minibatches_and_the_policy_shares_them(panel, decoder_config, algo, buffer):
    env = _vec(panel)
    small = FineTuneSettings(n_steps=16, batch_size=8, n_epochs=1)
    model = build_agent(algo, env, decoder_config=decoder_config, init_checkpoint=None, settings=small,
                        seed=0)
    assert type(model.rollout_buffer) is buffer
    model.learn(32)
    batches = list(model.rollout_buffer.get(8))
    assert sum(len(b.actions) for b in batches) == 32
    policy = model.policy
    chains = 0
    for b in batches:
        obs = b.observations
        masks = getattr(b, "action_masks", None)
        position = obs["position"].flatten().long()
        # whole episode segments in order: consecutive steps add one token to the same prefix
        inputs = policy._inputs(obs)
        last, _ = prefix_chains(inputs.ids, position)
        starts = int((position[1:] != position[:-1] + 1).sum()) + 1
        assert len(last) <= starts
        chains += len(last)
        with torch.no_grad():  # the shared pass gives the batch's numbers bit for bit
            logits, values, _ = policy._logits_and_values(obs, masks, share=True)
            alone_logits, alone_values, _ = policy._logits_and_values(obs, masks, share=False)
            got_values, log_prob, _ = policy.evaluate_actions(obs, b.actions.long().flatten(), masks)
        assert torch.equal(logits, alone_logits) and torch.equal(values, alone_values)
        assert torch.equal(got_values, values)
        taken = b.actions.long().flatten()
        expected = torch.log_softmax(alone_logits, -1)[torch.arange(len(position)), taken]
        torch.testing.assert_close(log_prob, expected)
    assert chains < 32 / 2  # episodes of several steps: one pass each
    env.close()


def test_steps_minibatches_keep_sb3s_buffer_and_bad_settings_are_clear(panel, decoder_config):
    env = _vec(panel)
    model = build_agent("ppo", env, decoder_config=decoder_config, init_checkpoint=None,
                        settings=FineTuneSettings(n_steps=16, batch_size=8, minibatches="steps"), seed=0)
    assert type(model.rollout_buffer) is DictRolloutBuffer
    with pytest.raises(SettingsError, match="minibatches"):
        FineTuneSettings(minibatches="random")
    env.close()
