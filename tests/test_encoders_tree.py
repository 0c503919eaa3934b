"""AlphaTreeEncoder: tree links vs the AlphaTree form, padding, pretraining, checkpoints, policy, wrapper."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import alpha_env.env as E
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook, build_corpus
from alpha_env.grammar.forms import to_tree
from encoders import (
    AlphaDecoderConfig,
    AlphaTreeEncoder,
    AlphaTreeEncoderConfig,
    CheckpointError,
    EncodedAlphaObservation,
    load_checkpoint,
    masked_token_accuracy,
    pad_sequences,
    pretrain_alpha_encoder,
    save_checkpoint,
    tree_structure,
)
from encoders.finetune import constant_schedule

CODEBOOK = Codebook.default()
N = len(CODEBOOK)
HIDDEN = 16
CORPUS = build_corpus(CODEBOOK, size=240, max_len=12, seed=0)
SEQS = [CODEBOOK.encode(e) for e in CORPUS]

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(**overrides) -> AlphaTreeEncoderConfig:
    settings = {"max_len": 12, "hidden_size": HIDDEN, **overrides}
    return AlphaTreeEncoderConfig.from_codebook(CODEBOOK, **settings)


def _with_bos(seqs) -> torch.Tensor:
    ids = pad_sequences(seqs)
    return torch.cat([torch.full((len(seqs), 1), CODEBOOK.BOS), ids], dim=1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A 16-wide tree encoder pretrained one epoch on 240 corpus expressions."""
    encoder = AlphaTreeEncoder(_config(), seed=0)
    pretrain_alpha_encoder(encoder, SEQS, epochs=1, batch_size=32, seed=0)
    return str(save_checkpoint(encoder, tmp_path_factory.mktemp("tree") / "alpha_tree_encoder.pt"))


def test_links_read_breadth_first_are_the_alphatree_form():
    config = _config()
    ids = _with_bos(SEQS)
    tree = tree_structure(ids, torch.tensor([*config.arities, 0]), config.max_children)
    for row, expr in enumerate(CORPUS):
        roots = [p for p in range(ids.shape[1]) if int(tree.parent[row, p]) == 0]
        assert len(roots) == 1  # a finished expression is one tree under BOS
        order, queue = [], roots
        while queue:
            node = queue.pop(0)
            order.append(int(ids[row, node]))
            queue += [int(c) for c in tree.children[row, node] if c >= 0]
        assert order == [CODEBOOK.id(t) for t in to_tree(expr)]


def test_partial_stack_is_a_forest():
    # close open add  ->  one tree;  close open  ->  two roots
    close, open_, add = CODEBOOK.id("close"), CODEBOOK.id("open"), CODEBOOK.id("add")
    config = _config()
    arities = torch.tensor([*config.arities, 0])
    ids = torch.tensor([[CODEBOOK.BOS, close, open_, add], [CODEBOOK.BOS, close, open_, 0]])
    tree = tree_structure(ids, arities, config.max_children)
    assert tree.parent[0].tolist() == [-1, 3, 3, 0] and tree.children[0, 3, :2].tolist() == [1, 2]
    assert tree.parent[1].tolist() == [-1, 0, 0, -1] and tree.height == 2


def test_padding_never_changes_real_states_and_shapes():
    encoder = AlphaTreeEncoder(_config(), seed=0).eval()
    short = [SEQS[0]]
    a = encoder(pad_sequences(short))
    b = encoder(pad_sequences(short, length=12))
    n = a.sequence.shape[1]
    torch.testing.assert_close(a.sequence, b.sequence[:, :n])
    torch.testing.assert_close(a.pooled, b.pooled)
    assert b.sequence.shape == (1, 13, HIDDEN) and b.mask[0].sum() == len(SEQS[0]) + 1
    assert torch.isfinite(encoder(torch.zeros(2, 3, dtype=torch.long)).sequence).all()  # empty prefix


def test_masked_node_pretraining_learns_and_is_seeded():
    first = AlphaTreeEncoder(_config(), seed=0)
    before = masked_token_accuracy(first, SEQS[200:], seed=1)
    history = pretrain_alpha_encoder(first, SEQS[:200], valid=SEQS[200:], epochs=3, batch_size=32, lr=3e-3,
                                     seed=0)
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.valid_accuracy[-1] > before
    second = AlphaTreeEncoder(_config(), seed=0)
    again = pretrain_alpha_encoder(second, SEQS[:200], epochs=3, batch_size=32, lr=3e-3, seed=0)
    assert again.train_loss == history.train_loss


def test_checkpoint_round_trip_and_kind_guard(checkpoint):
    loaded = load_checkpoint(checkpoint, CODEBOOK, kind="alpha_tree_encoder").model
    assert isinstance(loaded, AlphaTreeEncoder) and loaded.config == _config()
    with pytest.raises(CheckpointError, match="holds an alpha_tree_encoder, not an alpha_encoder"):
        load_checkpoint(checkpoint, CODEBOOK, kind="alpha_encoder")


def test_config_errors_are_clear():
    with pytest.raises(SettingsError, match="arities for"):
        AlphaTreeEncoderConfig(vocab_size=5, codebook_version="x", arities=(0, 0, 0))
    with pytest.raises(SettingsError, match="max_children"):
        AlphaTreeEncoderConfig(vocab_size=3, codebook_version="x", arities=(0, 0, 4), max_children=3)
    with pytest.raises(SettingsError, match="exceed this encoder's max_len"):
        AlphaTreeEncoder(_config(max_len=2))(torch.tensor([SEQS[0][:3] + [0]]))


def test_encoded_observation_with_the_tree_encoder(checkpoint):
    import warnings

    env = EncodedAlphaObservation(gym.make(E.ALPHA_STACK_ID, data={"seed": 0, "n_stocks": 30, "n_days": 300},
                                           max_len=8, document_dim=8), checkpoint)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (HIDDEN + 8 + 2,)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


# --------------------------------------------------------------------------- policy
def _obs_space() -> spaces.Dict:
    return spaces.Dict({
        "tokens": spaces.Box(0, N - 1, (8,), np.int64),
        "action_mask": spaces.MultiBinary(N),
        "document": spaces.Box(-1.0, 1.0, (8,), np.float32),
        "position": spaces.Box(0, 8, (1,), np.int64),
        "stack_depth": spaces.Box(0, 8, (1,), np.int64),
    })


def _decoder_config() -> dict:
    return AlphaDecoderConfig.from_codebook(CODEBOOK, max_len=12, d_model=16, num_layers=1, num_heads=2,
                                            ff_size=32, doc_dim=8).to_dict()


def test_policy_with_the_tree_encoder_reads_the_prefix(checkpoint):
    from agents import DecoderActorCriticPolicy
    from agents.builders import policy_kwargs_for
    from agents.settings import EncoderSettings, FineTuneSettings

    encoder = EncoderSettings(alpha_encoder="tree", fusion="cross_attention", alpha_checkpoint=checkpoint)
    kwargs = policy_kwargs_for(_decoder_config(), None, FineTuneSettings(), 0, encoder)
    assert kwargs["alpha_encoder"] == "tree"
    policy = DecoderActorCriticPolicy(_obs_space(), spaces.Discrete(N), constant_schedule(1e-3), **kwargs)
    assert isinstance(policy.alpha_encoder, AlphaTreeEncoder)
    assert not any(p.requires_grad for p in policy.alpha_encoder.parameters())
    tokens = torch.zeros(2, 8, dtype=torch.long)
    tokens[:, 0] = torch.tensor([CODEBOOK.id("close"), CODEBOOK.id("open")])
    obs = {"tokens": tokens, "action_mask": torch.ones(2, N, dtype=torch.int8),
           "document": torch.zeros(2, 8), "position": torch.ones(2, 1), "stack_depth": torch.ones(2, 1)}
    with torch.no_grad():
        probs = policy.action_probabilities(obs)
    assert not torch.allclose(probs[0], probs[1])  # another prefix, another distribution
    # a stack checkpoint is refused for --alpha-encoder tree, and the reverse
    with pytest.raises(CheckpointError, match="not an alpha_encoder"):
        policy_kwargs_for(_decoder_config(), None, FineTuneSettings(), 0,
                          EncoderSettings(alpha_encoder="stack", alpha_checkpoint=checkpoint))


@pytest.mark.slow
def test_short_ppo_run_with_the_tree_encoder_and_reload(checkpoint, tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.builders import build_agent, load_agent
    from agents.settings import EncoderSettings, FineTuneSettings

    kw = {"data": {"seed": 0, "n_stocks": 30, "n_days": 300}, "max_len": 8, "document_dim": 8,
          "cache_bytes": 0}
    env = DummyVecEnv([lambda: gym.make(E.ALPHA_STACK_ID, **kw)])
    encoder = EncoderSettings(alpha_encoder="tree", fusion="gated", alpha_checkpoint=checkpoint)
    model = build_agent("ppo", env, decoder_config=_decoder_config(), init_checkpoint=None,
                        settings=FineTuneSettings(n_steps=32, batch_size=16, n_epochs=1, target_kl=None),
                        encoder=encoder)
    before = [p.detach().clone() for p in model.policy.fusion.parameters()]
    model.learn(total_timesteps=32)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.fusion.parameters()))
    model.save(tmp_path / "model.zip")
    loaded = load_agent("ppo", tmp_path / "model.zip", encoder=EncoderSettings("tree", "gated"))
    assert isinstance(loaded.policy.alpha_encoder, AlphaTreeEncoder)
    with pytest.raises(SettingsError, match="saved with alpha encoder tree"):
        load_agent("ppo", tmp_path / "model.zip", encoder=EncoderSettings("stack", "gated"))


def test_pretrain_script_reports_both_encoders(tmp_path):
    from test_encoders_experiments import load_script

    script = load_script("pretrain_alpha_encoder")
    summary = script.main(["--quick", "--encoder", "both", "--out", str(tmp_path), "--run-name", "q"])
    assert 0.0 <= summary["masked_accuracy_after"] <= 1.0  # the stack encoder's, at the top level
    tree = summary["tree"]
    assert tree["encoder"] == "tree" and 0.0 <= tree["masked_accuracy_after"] <= 1.0
    assert tree["nearest_neighbour_token_jaccard"] > tree["random_pair_token_jaccard"]
    loaded = load_checkpoint(tmp_path / "q" / "alpha_tree_encoder.pt", CODEBOOK, kind="alpha_tree_encoder")
    assert isinstance(loaded.model, AlphaTreeEncoder)


def test_each_node_state_depends_only_on_its_subtree_and_ancestors_context():
    # bottom-up: changing a leaf outside a subtree leaves that subtree's bottom-up summary alone, and the
    # root's pooled vector sees every leaf
    encoder = AlphaTreeEncoder(_config(dropout=0.0), seed=0).eval()
    close, open_, vwap, add = (CODEBOOK.id(t) for t in ("close", "open", "vwap", "add"))
    a = encoder(torch.tensor([[close, open_, add]]))
    b = encoder(torch.tensor([[close, vwap, add]]))
    assert not torch.allclose(a.pooled, b.pooled)
    assert not torch.allclose(a.sequence[0, 1], b.sequence[0, 1])  # the sibling changed: top-down context


def test_leaves_only_prefixes_of_full_width_parse():
    # every position a leaf: the stack grows to the full width (the gather index must stay in range)
    close = CODEBOOK.id("close")
    encoder = AlphaTreeEncoder(_config(), seed=0).eval()
    out = encoder(torch.full((2, 12), close))
    assert out.sequence.shape == (2, 13, HIDDEN) and torch.isfinite(out.sequence).all()
