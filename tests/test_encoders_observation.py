"""EncodedAlphaObservation: the frozen alpha encoding as one Box, check_env, SB3 PPO and MaskablePPO."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from env_support import ReasonCounter
from gymnasium.utils.env_checker import check_env

import alpha_env.env as E
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook, build_corpus
from encoders import (
    AlphaDecoder,
    AlphaDecoderConfig,
    AlphaEncoder,
    AlphaEncoderConfig,
    CheckpointError,
    CodebookMismatchError,
    EncodedAlphaObservation,
    masked_mean,
    pretrain_alpha_encoder,
    save_checkpoint,
)

SMALL = {"seed": 0, "n_stocks": 30, "n_days": 300}
KW = {"data": SMALL, "max_len": 8, "document_dim": 8}
HIDDEN = 16

# check_env warns that it is given a wrapper: checking the wrapper is the point here
pytestmark = [pytest.mark.filterwarnings("ignore:.*different from the unwrapped version"),
              pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A tiny AlphaEncoder (16 wide, 1 layer) pretrained one epoch on 200 corpus expressions."""
    codebook = Codebook.default()
    corpus = [codebook.encode(e) for e in build_corpus(codebook, size=200, max_len=12, seed=0)]
    config = AlphaEncoderConfig.from_codebook(
        codebook, max_len=12, hidden_size=HIDDEN, num_layers=1, num_heads=2, intermediate_size=32
    )
    encoder = AlphaEncoder(config, seed=0)
    pretrain_alpha_encoder(encoder, corpus, epochs=1, batch_size=32, seed=0)
    return str(save_checkpoint(encoder, tmp_path_factory.mktemp("enc") / "alpha_encoder.pt"))


def _env(checkpoint, **kwargs) -> EncodedAlphaObservation:
    return EncodedAlphaObservation(gym.make(E.ALPHA_STACK_ID, **KW), checkpoint, **kwargs)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_check_env_passes(checkpoint, pooling):
    env = _env(checkpoint, pooling=pooling)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (HIDDEN + 8 + 2,)


def test_vector_layout_matches_the_encoder(checkpoint):
    env = _env(checkpoint)
    obs, _ = env.reset(seed=0)
    book = env.unwrapped.codebook
    close, delta, w5 = book.id("close"), book.id("delta"), book.id("5d")
    for token in (close, w5, delta):
        obs, *_ = env.step(token)
    encoder = env.encoder
    with torch.no_grad():
        out = encoder(torch.tensor([[close, w5, delta]]))
    expected = masked_mean(out.sequence, out.mask)[0].numpy()
    np.testing.assert_allclose(obs[:HIDDEN], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(obs[HIDDEN : HIDDEN + 8], np.zeros(8, dtype=np.float32))
    assert obs[HIDDEN + 8] == pytest.approx(3 / 8) and obs[HIDDEN + 9] == pytest.approx(1 / 8)
    assert not any(p.requires_grad for p in encoder.parameters()) and not encoder.training
    cls = _env(encoder, pooling="cls")
    cls.reset(seed=0)
    for token in (close, w5, delta):
        cls_obs, *_ = cls.step(token)
    np.testing.assert_allclose(cls_obs[:HIDDEN], out.pooled[0].numpy(), rtol=1e-5, atol=1e-6)


def test_observations_stay_in_the_space_and_masks_pass_through(checkpoint):
    env = _env(checkpoint)
    agent = E.MaskedRandomAgent(0)
    obs, info = env.reset(seed=1)
    seen = set()
    for _ in range(60):
        assert obs in env.observation_space
        np.testing.assert_array_equal(env.action_masks(), info["action_mask"])
        seen.add(obs[:HIDDEN].tobytes())
        obs, _, terminated, truncated, info = env.step(agent.act(env.action_masks()))
        if terminated or truncated:
            obs, info = env.reset()
    assert len(seen) > 5  # the encoding changes with the written prefix


def test_bad_arguments_fail_clearly(checkpoint, tmp_path):
    with pytest.raises(SettingsError, match="pooling"):
        _env(checkpoint, pooling="max")
    with pytest.raises(CheckpointError, match="does not exist"):
        _env(tmp_path / "missing.pt")
    book = Codebook.default()
    decoder = AlphaDecoder(AlphaDecoderConfig.from_codebook(book, d_model=16, num_layers=1, num_heads=2,
                                                            ff_size=32, doc_dim=8), seed=0)
    path = save_checkpoint(decoder, tmp_path / "decoder.pt")
    with pytest.raises(CheckpointError, match="not an alpha_encoder"):
        _env(path)
    short = AlphaEncoder(AlphaEncoderConfig.from_codebook(book, max_len=4, hidden_size=16, num_layers=1,
                                                          num_heads=2, intermediate_size=32))
    with pytest.raises(SettingsError, match="max_len"):
        _env(short)
    other = AlphaEncoder(AlphaEncoderConfig(vocab_size=len(book), codebook_version="other", max_len=12,
                                            hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32))
    with pytest.raises(CodebookMismatchError, match="codebook"):
        _env(other)


def _parameters(model) -> list:
    return [p.detach().clone() for p in model.policy.parameters()]


def _moved(model, before: list) -> bool:
    return any(not (a == b.detach()).all() for a, b in zip(before, model.policy.parameters(), strict=True))


@pytest.mark.slow
def test_sb3_ppo_mlp_policy_learns_from_the_encoding(checkpoint):
    from stable_baselines3 import PPO

    env = ReasonCounter(_env(checkpoint))
    model = PPO("MlpPolicy", env, seed=0, device="cpu", n_steps=64, batch_size=32, n_epochs=1, verbose=0,
                policy_kwargs={"net_arch": [32]})
    before = _parameters(model)
    model.learn(total_timesteps=128)
    assert sum(env.reasons.values()) > 0
    assert _moved(model, before)


@pytest.mark.slow
def test_maskable_ppo_mlp_policy_on_the_encoding(checkpoint):
    from sb3_contrib import MaskablePPO

    env = ReasonCounter(_env(checkpoint))
    model = MaskablePPO("MlpPolicy", env, seed=0, device="cpu", n_steps=64, batch_size=32, n_epochs=1,
                        verbose=0, policy_kwargs={"net_arch": [32]})
    before = _parameters(model)
    model.learn(total_timesteps=128)
    assert _moved(model, before)
    assert sum(env.reasons.values()) >= 5
    assert env.reasons["invalid_action"] == 0
