"""Random masked rollouts on the synthetic market: no exception, every expression parses and evaluates,
never a truncation.

The full 10,000 rewarded episodes take about 40 s on one core (each end runs an ACE simulation), so the
default suite runs 10,000 grammar-only rollouts (every step through the environment, the END step
replaced by a parse check) plus 1,000 rewarded episodes; the 10,000 rewarded ones are ``slow``.
"""

from __future__ import annotations

from collections import Counter

import numba
import numpy as np
import pytest

import alpha_env.env as E
from alpha_env.data import synthetic_market
from alpha_env.grammar import canonical, parse


@pytest.fixture(scope="module", autouse=True)
def _serial_numba():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture(scope="module")
def env():
    e = E.AlphaStackEnv(synthetic_market(seed=0, n_stocks=30, n_days=300), max_len=12)
    yield e
    e.close()


def test_10k_grammar_only_rollouts_parse_and_never_dead_end(env):
    agent = E.MaskedRandomAgent(2024)
    lengths = Counter()
    seen = set()
    for ep in range(10_000):
        obs, info = env.reset(seed=ep)
        while True:
            mask = obs["action_mask"].astype(bool)
            assert mask.any(), f"episode {ep}: empty mask after {env.written}"
            position = int(obs["position"][0])
            if position == env.max_len:
                assert np.flatnonzero(mask).tolist() == [env.codebook.END]
            a = agent.act(mask)
            if a == env.codebook.END:
                break
            obs, reward, terminated, truncated, info = env.step(a)
            assert reward == 0.0 and not terminated and not truncated
        expr = env.codebook.decode(env.written)
        text = canonical(expr)
        assert canonical(parse(text)) == text
        lengths[len(env.written)] += 1
        seen.add(text)
    assert max(lengths) <= env.max_len
    assert len(seen) > 9_000  # random search explores: almost no repeats


def _rewarded_rollouts(env, n: int, seed: int) -> Counter:
    agent = E.MaskedRandomAgent(seed)
    reasons: Counter = Counter()
    for ep in range(n):
        total, steps, info = E.play_episode(env, agent, seed=ep)
        assert info["terminated"] and not info["truncated"], info
        assert info["reason"] in ("complete", "degenerate"), info
        reason = info["degenerate_reason"] or ""
        assert not reason.startswith("evaluation failed"), (info["expression"], reason)
        assert canonical(parse(info["expression"])) == info["expression"]
        assert np.isfinite(total)
        if info["reason"] == "complete":
            assert total == info["raw_reward"] == info["metrics"]["sharpe"]
        else:
            assert total == env.degenerate_penalty
        reasons[info["reason"]] += 1
    return reasons


def test_1k_rewarded_random_episodes(env):
    reasons = _rewarded_rollouts(env, 1_000, seed=7)
    assert reasons["complete"] > 100  # a fair share of random alphas holds a book in train


@pytest.mark.slow
def test_10k_rewarded_random_episodes(env):
    reasons = _rewarded_rollouts(env, 10_000, seed=8)
    assert sum(reasons.values()) == 10_000
