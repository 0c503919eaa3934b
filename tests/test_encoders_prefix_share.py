"""The decoder's shared causal pass (``AlphaDecoder.next_token(share=True)``, ``prefix_chains``) in PPO's
update."""

from __future__ import annotations

import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

from agents import FineTuneSettings, build_agent
from alpha_env.data import synthetic_market
from alpha_env.env import AlphaStackEnv
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook
from encoders import AlphaDecoder, AlphaDecoderConfig, bit_rows, prefix_chains

MAX_LEN = 10
CODEBOOK = Codebook.default()

pytestmark = pytest.mark.usefixtures("single_thread_torch")


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


def _groups(dec: AlphaDecoder, docs: torch.Tensor) -> torch.Tensor:
    memory = dec.memory(doc=docs)
    return torch.cat([bit_rows(memory.states), memory.mask.long()], dim=1)


def test_prefix_chains_join_only_extended_prefixes_of_one_memory():
    dec = _decoder()
    prefix = torch.tensor([[5, 6, 7],  # 0: extends 2 and 5
                           [5, 9, 4],  # 1: another document (below): its own chain
                           [5, 6, 0],  # 2
                           [5, 9, 0],  # 3: another token at a shared place: a chain with 4
                           [5, 9, 0],  # 4: the same row again
                           [5, 0, 0],  # 5: extended by 0 (and by 3 and 4, but 0 comes first)
                           [8, 0, 0]])  # 6: alone
    lengths = torch.tensor([3, 3, 2, 2, 2, 1, 1])
    docs = torch.zeros(7, 6)
    docs[1] = 1.0
    ids = dec.with_bos(prefix)
    last, source = prefix_chains(ids, lengths, _groups(dec, docs))
    chains = [sorted(torch.nonzero(source == c).flatten().tolist()) for c in range(len(last))]
    assert sorted(zip(last.tolist(), chains)) == [(0, [0, 2, 5]), (1, [1]), (4, [3, 4]), (6, [6])]
    for c, row in enumerate(last.tolist()):  # each chain's last row extends every row of its chain
        for i in torch.nonzero(source == c).flatten().tolist():
            n = int(lengths[i])
            assert torch.equal(ids[row, : n + 1], ids[i, : n + 1]) and lengths[row] >= n
    last, source = prefix_chains(ids, lengths)  # one memory: row 1 extends rows 3, 4 and 5 too
    assert len(last) == 3 and int(source[1]) == int(source[3]) == int(source[4])
    rows, lengths = [], []  # two long episodes, shuffled: their tokens span several packed sort keys
    for first in (7, 9):
        tokens = torch.tensor([first, *range(150, 161)])
        for p in range(1, 13):
            rows.append(torch.cat([tokens[:p], torch.zeros(12 - p, dtype=torch.long)]))
            lengths.append(p)
    perm = torch.randperm(24, generator=torch.Generator().manual_seed(0))
    last, source = prefix_chains(dec.with_bos(torch.stack(rows)[perm]), torch.tensor(lengths)[perm])
    assert len(last) == 2 and sorted(lengths[int(perm[i])] for i in last) == [12, 12]
    ids = dec.with_bos(torch.tensor([[5, 0], [5, 6]]))
    for first, second in ((0.0, 1.0), (1.0, 0.0)):  # either memory's rows first: a prefix under one memory
        docs = torch.tensor([[first] * 6, [second] * 6])  # never joins its extension under the other
        last, source = prefix_chains(ids, torch.tensor([1, 2]), _groups(dec, docs))
        assert sorted(last.tolist()) == [0, 1] and source.tolist() != [0, 0]


@pytest.mark.parametrize("share", [False, True])
def test_a_token_outside_the_codebook_is_a_clear_error_either_way(share):
    dec = _decoder()
    with pytest.raises(SettingsError, match="token id 999 outside the codebook"):
        dec.next_token(torch.tensor([[5, 999, 0], [5, 0, 0]]), share=share)


# ---------------------------------------------------------------- PPO's update
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


@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo"])
def test_ppo_minibatches_share_prefixes_with_the_same_numbers(panel, decoder_config, algo):
    env = _vec(panel)
    small = FineTuneSettings(n_steps=32, batch_size=16, n_epochs=1, kl_coef=0.02, ent_coef=0.02)
    model = build_agent(algo, env, decoder_config=decoder_config, init_checkpoint=None, settings=small,
                        seed=0)
    model.learn(64)
    policy = model.policy
    assert policy.share_prefixes
    rows = chains = 0
    for b in model.rollout_buffer.get(16):  # SB3's random steps
        obs = b.observations
        masks = getattr(b, "action_masks", None)
        taken = b.actions.long().flatten()
        inputs = policy._inputs(obs)
        rows += len(taken)
        chains += len(policy._chains(inputs)[0])
        with torch.no_grad():  # the shared pass gives the batch's numbers bit for bit
            logits, values, _ = policy._logits_and_values(obs, masks, share=True)
            alone_logits, alone_values, _ = policy._logits_and_values(obs, masks, share=False)
            got_values, log_prob, entropy = policy.evaluate_actions(obs, taken, masks)
            policy.share_prefixes = False
            _, alone_log_prob, alone_entropy = policy.evaluate_actions(obs, taken, masks)
            policy.share_prefixes = True
        assert torch.equal(logits, alone_logits) and torch.equal(values, alone_values)
        assert torch.equal(got_values, values) and torch.equal(log_prob, alone_log_prob)
        assert torch.equal(entropy, alone_entropy)  # with the KL term to the reference actor
    assert chains < rows  # minibatches of random steps still hold several steps of one episode
    env.close()
