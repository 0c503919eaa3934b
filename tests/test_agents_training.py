"""PPO / MaskablePPO with the decoder actor on a small market; resume; random search; tracking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

from agents import (
    AlphaMetricsCallback,
    FineTuneSettings,
    GradualUnfreezeCallback,
    TimeLimitCallback,
    build_agent,
    load_agent,
)
from alpha_env.ace import ACE
from alpha_env.data import synthetic_market
from alpha_env.env import AlphaStackEnv
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook, parse
from alpha_env.search import AlphaTracker, episode_record, random_search
from encoders import AlphaDecoder, AlphaDecoderConfig, save_checkpoint

MAX_LEN = 8
SMALL = FineTuneSettings(n_steps=16, batch_size=16, n_epochs=2, learning_rate=1e-3)


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=0, n_stocks=20, n_days=260)


@pytest.fixture(scope="module")
def decoder_config():
    return AlphaDecoderConfig.from_codebook(Codebook.default(), max_len=MAX_LEN, d_model=16, num_layers=2,
                                            num_heads=2, ff_size=32, doc_dim=384).to_dict()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, decoder_config):
    path = tmp_path_factory.mktemp("actor") / "decoder.pt"
    save_checkpoint(AlphaDecoder(AlphaDecoderConfig(**decoder_config), seed=3), path)
    return path


pytestmark = pytest.mark.usefixtures("single_thread_torch")


def _vec(panel, n_envs=2, seed=0):
    return make_vec_env(lambda: AlphaStackEnv(panel, max_len=MAX_LEN, cache_bytes=16 * 2**20),
                        n_envs=n_envs, seed=seed)


def _fixed_observations(panel, n=6):
    env = AlphaStackEnv(panel, max_len=MAX_LEN, cache_bytes=0)
    rng = np.random.default_rng(0)
    rows = []
    obs, _ = env.reset(seed=0)
    while len(rows) < n:
        rows.append(obs)
        allowed = np.flatnonzero(env.action_masks())
        allowed = allowed[allowed != env.codebook.END] if allowed.size > 1 else allowed
        obs, _, done, _, _ = env.step(int(rng.choice(allowed)))
        if done:
            obs, _ = env.reset()
    return {k: torch.as_tensor(np.stack([r[k] for r in rows])) for k in rows[0]}


@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo"])
def test_agent_learns_and_tracks_every_episode(panel, decoder_config, checkpoint, algo):
    env = _vec(panel)
    model = build_agent(algo, env, decoder_config=decoder_config, init_checkpoint=checkpoint, settings=SMALL,
                        seed=0)
    tracker = AlphaTracker(ACE(panel))
    seen = []
    callback = AlphaMetricsCallback(tracker, hparams={"algo": algo},
                                    on_episode=lambda reward, info: seen.append(info))
    obs = _fixed_observations(panel)
    before = model.policy.action_probabilities(obs)
    import matplotlib.pyplot as plt

    plt.close("all")
    model.learn(64, callback=callback)
    # no TensorBoard output here: the best-PnL image is not drawn, so no figure is left open (each one
    # leaked before: only TensorBoard's writer closes them)
    assert plt.get_fignums() == []
    # learning happened: the actor's next-token distribution moved on fixed observations
    after = model.policy.action_probabilities(obs)
    assert not torch.allclose(before, after)
    assert float((after - before).abs().max()) > 1e-5
    assert tracker.n_evaluations == len(seen) > 0
    # masked sampling: no episode may end on an invalid action
    assert all(info.get("reason") != "invalid_action" for info in seen)
    best = tracker.best()
    if best is not None:
        parse(best.expression)
        assert np.isfinite(tracker.split_sharpe(best.expression, "valid"))
        assert "| 1 |" in tracker.top_markdown()
    env.close()


def test_initial_actor_is_the_checkpoint_and_random_init_differs(panel, decoder_config, checkpoint):
    obs = _fixed_observations(panel)
    env = _vec(panel)
    pretrained = build_agent("ppo", env, decoder_config=decoder_config, init_checkpoint=checkpoint, seed=0)
    random_actor = build_agent("ppo", env, decoder_config=decoder_config, init_checkpoint=None, seed=0)
    reference = AlphaDecoder(AlphaDecoderConfig(**decoder_config), seed=3)
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(pretrained.policy.decoder.state_dict()[name], tensor)
    p1 = pretrained.policy.action_probabilities(obs)
    p2 = random_actor.policy.action_probabilities(obs)
    assert not torch.allclose(p1, p2)
    env.close()


def test_resume_gives_the_same_next_action_distribution(tmp_path, panel, decoder_config, checkpoint):
    env = _vec(panel)
    settings = FineTuneSettings(n_steps=16, batch_size=16, n_epochs=2, learning_rate=3e-3, kl_coef=0.1)
    model = build_agent("maskable_ppo", env, decoder_config=decoder_config, init_checkpoint=checkpoint,
                        settings=settings, seed=1)
    obs = _fixed_observations(panel)
    before = model.policy.action_probabilities(obs)
    model.learn(64)
    trained = model.policy.action_probabilities(obs)
    assert not torch.allclose(before, trained)  # training moved the actor, so the test can fail
    model.save(tmp_path / "model.zip")
    checkpoint_moved = tmp_path / "gone.pt"  # the stage-1 checkpoint is not needed to resume
    resumed = load_agent("maskable_ppo", tmp_path / "model.zip", _vec(panel))
    torch.testing.assert_close(resumed.policy.action_probabilities(obs), trained)
    torch.testing.assert_close(resumed.policy.predict_values(obs), model.policy.predict_values(obs))
    assert resumed.num_timesteps == model.num_timesteps
    assert resumed.policy.reference is not None  # the frozen initial actor travels with the model
    assert not checkpoint_moved.exists()
    resumed.learn(16, reset_num_timesteps=False)
    assert resumed.num_timesteps > model.num_timesteps
    with pytest.raises(SettingsError, match="no saved agent"):
        load_agent("ppo", tmp_path / "missing.zip")
    with pytest.raises(SettingsError, match="saved by maskable_ppo"):
        load_agent("ppo", tmp_path / "model.zip")
    assert type(load_agent(None, tmp_path / "model.zip")).__name__ == "MaskablePPO"


def test_gradual_unfreezing_and_time_limit(panel, decoder_config, checkpoint):
    env = _vec(panel)
    model = build_agent("ppo", env, decoder_config=decoder_config, init_checkpoint=checkpoint, settings=SMALL)
    unfreeze = GradualUnfreezeCallback(every_n_rollouts=1, start_groups=1)
    model.learn(32, callback=unfreeze)  # one rollout of 2 x 16 steps: 1 group, then 2 after it
    groups = model.policy.decoder_layer_groups()
    assert unfreeze.n_trainable == 2
    assert all(p.requires_grad for p in groups[-1]) and all(p.requires_grad for p in groups[-2])
    assert not any(p.requires_grad for p in groups[0])
    limit = TimeLimitCallback(1e-6)
    model.learn(10_000, callback=limit)
    assert limit.stopped and model.num_timesteps < 10_000
    env.close()


def test_build_agent_rejects_bad_settings(panel, decoder_config):
    env = _vec(panel)
    with pytest.raises(SettingsError, match="algo"):
        build_agent("a2c", env, decoder_config=decoder_config, init_checkpoint=None)
    with pytest.raises(SettingsError, match="batch_size"):
        build_agent("ppo", env, decoder_config=decoder_config, init_checkpoint=None,
                    settings=FineTuneSettings(n_steps=4, batch_size=64))
    with pytest.raises(SettingsError, match="lr_schedule"):
        FineTuneSettings(lr_schedule="cosine").schedule()
    env.close()


def test_random_search_is_seeded_and_masked(panel):
    env = AlphaStackEnv(panel, max_len=MAX_LEN, cache_bytes=16 * 2**20)
    first = random_search(env, 25, seed=7)
    second = random_search(env, 25, seed=7)
    other = random_search(env, 25, seed=8)
    assert len(first) == 25 and first.expressions == second.expressions and first.rewards == second.rewards
    assert first.expressions != other.expressions
    assert all(e for e in first.expressions)  # masked draws: every episode completes an expression
    for text in first.expressions:
        parse(text)
    best = first.best_so_far()
    finite = best[np.isfinite(best)]
    assert (np.diff(finite) >= 0).all()
    expression, reward = first.best()
    assert reward == pytest.approx(np.nanmax(best))
    assert max(first.lengths) <= MAX_LEN + 1
    with pytest.raises(SettingsError):
        random_search(env, 0)


def test_tracker_window_statistics():
    tracker = AlphaTracker(ace=None)
    tracker.add(1.0, {"reason": "complete", "expression": "rank(close)"}, 3)
    tracker.add(2.0, {"reason": "complete", "expression": "rank(close)"}, 3)
    tracker.add(-1.0, {"reason": "degenerate", "expression": "close - close"}, 4)
    tracker.add(-2.0, {"reason": "invalid_action", "expression": None}, 1)
    stats = tracker.window()
    assert stats.episodes == 4
    assert stats.valid_rate == pytest.approx(0.5)
    assert stats.unique_rate == pytest.approx(0.5)  # first "rank(close)" and "close - close" were new
    assert stats.mean_length == pytest.approx(2.75)
    assert tracker.best().reward == 2.0 and tracker.best().count == 2
    assert tracker.window().episodes == 0
    assert np.isnan(tracker.split_sharpe("rank(close)", "valid"))
    assert episode_record({"reason": "complete", "expression": "close"}) == ("close", True)
