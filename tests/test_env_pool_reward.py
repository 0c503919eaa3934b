"""reward="pool": the env pays what an alpha adds to the run's pool; refused alphas earn 0; train only."""

from __future__ import annotations

import numpy as np
import pytest
from panel_support import scramble_after

from alpha_env.ace.pools import new_pool
from alpha_env.data import synthetic_market
from alpha_env.env import AlphaStackEnv, EnvSettings
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook, parse
from alpha_env.pool import AlphaPool, PoolSettings

EXPRS = ("rank(-delta(close, 5))", "-1 * correlation(rank(vwap), volume, 10)",
         "rank(-delta(close, 5))", "ts_rank(volume, 10)", "-(high - low) / close", "rank(-delta(close, 3))")


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=0, n_stocks=40, n_days=400)


def _write(env: AlphaStackEnv, text: str) -> tuple[float, dict]:
    """Play the episode that writes ``text`` (its AlphaStack) and return the reward and final info."""
    book: Codebook = env.codebook
    env.reset(seed=0)
    reward, info = 0.0, {}
    for token_id in [*book.encode(parse(text)), Codebook.END]:
        _, reward, terminated, _, info = env.step(token_id)
        if terminated:
            break
    return float(reward), info


def test_pool_reward_is_the_gain_of_an_independent_pool(panel):
    env = AlphaStackEnv(panel, reward="pool", max_len=20, pool_capacity=3)
    reference = AlphaPool.from_panel(panel, PoolSettings(capacity=3), delay=1)
    rewards = []
    for text in EXPRS:
        reward, info = _write(env, text)
        expected = reference.offer(info["expression"], env.ace.evaluator.evaluate(info["expression"]))
        assert info["reason"] == "complete" and info["pool"]["accepted"] == expected.accepted
        assert reward == pytest.approx(expected.gain, abs=1e-12)
        rewards.append(reward)
    assert len(env.pool) == len(reference) <= 3
    assert rewards[2] == 0.0  # the repeated alpha is refused: it earns exactly 0
    assert not _write(env, EXPRS[0])[1]["pool"]["accepted"]


def test_pool_rewards_read_train_days_only(panel):
    other = scramble_after(panel, panel.splits["train"].stop, seed=3)
    runs = []
    for p in (panel, other):
        env = AlphaStackEnv(p, reward="pool", max_len=20)
        runs.append([_write(env, text)[0] for text in EXPRS])
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-12)


def test_in_process_envs_can_share_one_pool_and_scale_the_reward(panel):
    a = AlphaStackEnv(panel, reward="pool", max_len=20)
    shared = new_pool(a.ace, PoolSettings())
    a = AlphaStackEnv(panel, reward="pool", max_len=20, alpha_pool=shared, reward_scale=10.0)
    b = AlphaStackEnv(panel, reward="pool", max_len=20, alpha_pool=shared)
    first, info = _write(a, EXPRS[0])
    assert first == pytest.approx(10.0 * info["pool"]["gain"]) and first > 0
    again, info = _write(b, EXPRS[0])  # b sees a's member: the same alpha is refused
    assert again == 0.0 and info["pool"]["size"] == 1
    with pytest.raises(SettingsError, match="AlphaPool"):
        AlphaStackEnv(panel, reward="pool", alpha_pool="not a pool")


def test_repeat_penalty_stops_paying_the_same_signal_twice(panel):
    env = AlphaStackEnv(panel, env_settings=EnvSettings(repeat_penalty=-0.5, max_len=20))
    first, info = _write(env, "rank(-delta(close, 5))")
    assert info["reason"] == "complete" and first == pytest.approx(info["metrics"]["sharpe"])
    again, info = _write(env, "rank(-1 * delta(close, 5))")  # another text, the same ranks
    assert again == -0.5 and info["reason"] == "repeat"
    other, info = _write(env, "ts_rank(volume, 10)")
    assert info["reason"] == "complete" and other != -0.5


def test_pool_options_are_prefixed_options_of_env_settings():
    from alpha_env.options import parse_args

    s = parse_args(EnvSettings, ["--reward", "pool", "--pool-capacity", "5", "--pool-model", "ridge",
                                 "--horizon", "7", "--pool-horizon", "2"])
    assert s.pool == PoolSettings(capacity=5, model="ridge", horizon=2) and s.horizon == 7
    with pytest.raises(SettingsError, match="capacity"):
        EnvSettings(pool=PoolSettings(capacity=0))
