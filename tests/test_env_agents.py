"""AlphaStackEnv with other agents, each a short run: Gymnasium vector envs, SB3 PPO / A2C / DQN,
sb3-contrib MaskablePPO, SB3 SubprocVecEnv with two workers writing to one store."""

from __future__ import annotations

from collections import Counter

import gymnasium as gym
import numba
import numpy as np
import pytest
from env_support import ReasonCounter

import alpha_env.env as E

SMALL = {"seed": 0, "n_stocks": 30, "n_days": 300}
KW = {"data": SMALL, "max_len": 8, "document_dim": 8}


@pytest.fixture(scope="module", autouse=True)
def _serial_numba():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def _parameters(model) -> list:
    """A copy of every parameter of an SB3 model's policy."""
    return [p.detach().clone() for p in model.policy.parameters()]


def _moved(model, before: list) -> bool:
    """Whether ``learn`` changed at least one parameter of the policy (a real gradient step happened)."""
    return any(not (a == b.detach()).all() for a, b in zip(before, model.policy.parameters(), strict=True))


def _masked_vector_rollout(vec, steps: int) -> Counter:
    agent = E.MaskedRandomAgent(0)
    obs, _ = vec.reset(seed=[0, 1])
    ends: Counter = Counter()
    for _ in range(steps):
        actions, _ = agent.predict(obs)
        obs, rewards, terminated, truncated, infos = vec.step(actions)
        assert not truncated.any()
        ends["terminated"] += int(terminated.sum())
        assert np.isfinite(rewards).all()
    return ends


def test_sync_vector_env():
    vec = gym.vector.SyncVectorEnv([lambda: gym.make(E.ALPHA_STACK_ID, **KW) for _ in range(2)])
    assert vec.single_action_space == gym.spaces.Discrete(len(vec.envs[0].unwrapped.codebook))
    ends = _masked_vector_rollout(vec, 200)
    assert ends["terminated"] >= 10
    vec.close()


@pytest.mark.slow
def test_async_vector_env():
    # "spawn": forking a process whose Numba thread pool has run is unsafe (the workers would abort)
    vec = gym.make_vec(E.ALPHA_STACK_ID, num_envs=2, vectorization_mode="async",
                       vector_kwargs={"context": "spawn"}, **KW)
    ends = _masked_vector_rollout(vec, 200)
    assert ends["terminated"] >= 10
    vec.close()


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["PPO", "A2C"])
def test_sb3_multi_input_policy(algo):
    import stable_baselines3 as sb3

    env = ReasonCounter(gym.make(E.ALPHA_STACK_ID, **KW))
    cls = getattr(sb3, algo)
    extra = {"n_steps": 64, "batch_size": 32, "n_epochs": 1} if algo == "PPO" else {"n_steps": 16}
    model = cls("MultiInputPolicy", env, seed=0, device="cpu", verbose=0, **extra)
    before = _parameters(model)
    model.learn(total_timesteps=256)
    assert sum(env.reasons.values()) > 0  # episodes ended (invalid actions included: mask-unaware)
    assert _moved(model, before)  # the updates ran on the env's rewards
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


@pytest.mark.slow
def test_sb3_dqn_with_flatten_wrapper():
    from stable_baselines3 import DQN

    env = ReasonCounter(E.FlattenAlphaObservation(gym.make(E.ALPHA_STACK_ID, **KW), one_hot_tokens=True))
    n = len(env.unwrapped.codebook)
    assert env.observation_space.shape == (8 * n + n + 2 + 8,)
    model = DQN("MlpPolicy", env, seed=0, device="cpu", learning_starts=50, buffer_size=1000,
                train_freq=4, verbose=0)
    before = _parameters(model)
    model.learn(total_timesteps=300)
    assert sum(env.reasons.values()) > 0
    assert _moved(model, before)  # gradient steps after learning_starts changed the Q-network


def test_flatten_wrapper_values():
    env = E.FlattenAlphaObservation(gym.make(E.ALPHA_STACK_ID, **KW))
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space and obs.dtype == np.float32
    close = env.unwrapped.codebook.id("close")
    obs, *_ = env.step(close)
    n = len(env.unwrapped.codebook)
    assert obs[0] == pytest.approx(close / (n - 1)) and obs[1:8].sum() == 0
    np.testing.assert_array_equal(obs[8 : 8 + n], env.action_masks().astype(np.float32))
    assert obs[8 + n] == pytest.approx(1 / 8) and obs[9 + n] == pytest.approx(1 / 8)


@pytest.mark.slow
def test_maskable_ppo_never_samples_an_invalid_action():
    from sb3_contrib import MaskablePPO

    env = ReasonCounter(gym.make(E.ALPHA_STACK_ID, **KW))
    model = MaskablePPO("MultiInputPolicy", env, seed=0, device="cpu", n_steps=64, batch_size=32,
                        n_epochs=1, verbose=0)
    before = _parameters(model)
    model.learn(total_timesteps=320)
    assert _moved(model, before)
    assert sum(env.reasons.values()) >= 20
    assert env.reasons["invalid_action"] == 0
    assert set(env.reasons) <= {"complete", "degenerate"}


@pytest.mark.slow
def test_subproc_vec_env_two_workers_one_store(tmp_path):
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from alpha_env.ace import AlphaStore

    db = str(tmp_path / "shared.db")

    def make(rank: int):
        def _init():
            env = gym.make(E.ALPHA_STACK_ID, store=db, **KW)
            env.reset(seed=rank)
            return env
        return _init

    vec = SubprocVecEnv([make(0), make(1)])
    vec.seed(0)
    obs = vec.reset()
    agent = E.MaskedRandomAgent(1)
    found: set[str] = set()
    for _ in range(200):
        masks = np.stack(vec.env_method("action_masks"))
        actions, _ = agent.predict(obs, action_masks=masks)
        obs, rewards, dones, infos = vec.step(actions)
        for info in infos:
            if info.get("reason") == "complete":
                found.add(info["alpha_id"])
            assert info.get("reason") != "invalid_action"
    vec.close()
    assert len(found) >= 5
    with AlphaStore(db) as store:
        assert all(aid in store for aid in found)
        assert store.counts()["alphas"] == len(found)
        assert store.integrity_check() == "ok"


# ---------------------------------------------------------------- refused invalid actions
def _first_invalid(mask: np.ndarray) -> int:
    return int(np.flatnonzero(~mask.astype(bool))[0])


def test_retry_wrapper_refuses_and_keeps_the_episode():
    from alpha_env.errors import SettingsError

    plain = gym.make(E.ALPHA_STACK_ID, **KW)
    env = E.RetryInvalidActions(gym.make(E.ALPHA_STACK_ID, **KW), penalty=-0.1, max_refusals=3)
    obs, _ = env.reset(seed=0)
    plain_obs, _ = plain.reset(seed=0)
    agent = E.MaskedRandomAgent(1)
    total, plain_total, refusals = 0.0, 0.0, 0
    while True:
        bad = _first_invalid(env.action_masks())
        if refusals < 3:  # a refusal: same observation, the penalty, the episode goes on
            again, reward, terminated, truncated, info = env.step(bad)
            refusals += 1
            assert (reward, terminated, truncated) == (-0.1, False, False)
            assert info["refused_action"] == bad and info["refused_in_episode"] == refusals
            assert info["refused_token"] == env.unwrapped.codebook.texts[bad]
            for key in obs:
                np.testing.assert_array_equal(again[key], obs[key])
            total += reward
        action = agent.act(env.action_masks())
        obs, reward, terminated, truncated, info = env.step(action)
        plain_obs, plain_reward, plain_term, plain_trunc, plain_info = plain.step(action)
        total, plain_total = total + reward, plain_total + plain_reward
        assert reward == plain_reward and terminated == plain_term
        for key in obs:
            np.testing.assert_array_equal(obs[key], plain_obs[key])
        if terminated or truncated:
            break
    # the valid actions wrote the same expression and earned the same reward as without the wrapper
    assert info["reason"] == plain_info["reason"] and info.get("expression") == plain_info.get("expression")
    assert total == pytest.approx(plain_total - 0.3)
    with pytest.raises(SettingsError, match="penalty"):
        E.RetryInvalidActions(plain, penalty=0.5)
    with pytest.raises(SettingsError, match="max_refusals"):
        E.RetryInvalidActions(plain, max_refusals=-1)


def test_retry_wrapper_ends_after_its_refusals():
    env = E.RetryInvalidActions(gym.make(E.ALPHA_STACK_ID, **KW), max_refusals=2)
    env.reset(seed=0)
    for k in range(2):
        *_, terminated, _, info = env.step(_first_invalid(env.action_masks()))
        assert not terminated and info["refused_in_episode"] == k + 1
    _, reward, terminated, _, info = env.step(_first_invalid(env.action_masks()))
    assert terminated and info["reason"] == "invalid_action"
    assert reward == env.unwrapped.invalid_action_penalty
    _, info = env.reset()  # the count starts again
    *_, terminated, _, info = env.step(_first_invalid(env.action_masks()))
    assert not terminated and info["refused_in_episode"] == 1


def test_retry_wrapper_lets_a_maskless_agent_finish_expressions():
    """Uniform actions over the whole vocabulary (an agent that cannot see the mask): without the wrapper
    every episode ends on an invalid token; with it, expressions get finished."""
    import warnings

    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():  # checking the wrapper itself is the point here
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        check_env(E.RetryInvalidActions(gym.make(E.ALPHA_STACK_ID, **KW)), skip_render_check=True)

    def complete_share(env: gym.Env) -> float:
        rng = np.random.default_rng(0)
        env.reset(seed=0)
        n, ends, complete = env.action_space.n, 0, 0
        while ends < 40:
            _, _, terminated, truncated, info = env.step(int(rng.integers(n)))
            if terminated or truncated:
                ends += 1
                complete += info.get("reason") in ("complete", "degenerate")
                env.reset()
        return complete / ends

    assert complete_share(gym.make(E.ALPHA_STACK_ID, **KW)) == 0.0
    assert complete_share(E.RetryInvalidActions(gym.make(E.ALPHA_STACK_ID, **KW), max_refusals=200)) > 0.5


@pytest.mark.slow
def test_sb3_ppo_without_masks_finishes_expressions_under_the_retry_wrapper():
    from stable_baselines3 import PPO

    env = ReasonCounter(E.FlattenAlphaObservation(E.RetryInvalidActions(gym.make(E.ALPHA_STACK_ID, **KW))))
    model = PPO("MlpPolicy", env, seed=0, device="cpu", n_steps=256, batch_size=64, n_epochs=1, verbose=0)
    model.learn(total_timesteps=512)
    assert env.reasons["complete"] + env.reasons["degenerate"] > 0
