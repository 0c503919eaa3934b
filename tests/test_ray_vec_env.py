"""The Ray VecEnv: same episodes as DummyVecEnv for the same seeds, and a killed actor is survived."""

from __future__ import annotations

import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

from stable_baselines3.common.monitor import Monitor  # noqa: E402

from agents.runs import make_env_fn, make_vec  # noqa: E402
from alpha_env.data import synthetic_market  # noqa: E402


@pytest.fixture(scope="module")
def env_fn():
    panel = synthetic_market(seed=0, n_stocks=30, n_days=260, news=False)
    return make_env_fn(panel, store=None)


def _masked_actions(obs, rng):
    """One allowed token per environment, drawn from the observation's mask."""
    return np.array([rng.choice(np.flatnonzero(m)) for m in obs["action_mask"]])


def _rollout(vec, steps, seed=0):
    rng = np.random.default_rng(seed)
    obs = vec.reset()
    trace = []
    for _ in range(steps):
        obs, rewards, dones, infos = vec.step(_masked_actions(obs, rng))
        trace.append((obs["tokens"].copy(), rewards.copy(), dones.copy(),
                      [i.get("expression") for i in infos]))
    return trace


def test_same_episodes_as_dummy_vec_env(ray_local, env_fn):
    local = make_vec(env_fn, 3, seed=7, kind="dummy")
    remote = make_vec(env_fn, 3, seed=7, kind="ray", workers=2)
    try:
        assert remote.groups == [[0, 1], [2]]  # several environments per actor
        assert remote.panel_ref is not None  # the panel went once to the object store
        assert len(set(remote.actor_pids())) == 2
        assert remote.env_is_wrapped(Monitor) == [True, True, True]
        a, b = _rollout(local, 60), _rollout(remote, 60)
    finally:
        local.close()
        remote.close()
    finished = 0
    for (ta, ra, da, ea), (tb, rb, db, eb) in zip(a, b):
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(da, db)
        assert ea == eb
        finished += int(da.sum())
    assert finished > 3  # episodes ended (and reset in the workers) during the comparison


def test_a_killed_actor_is_restarted_and_the_rollout_goes_on(ray_local, env_fn):
    remote = make_vec(env_fn, 4, seed=3, kind="ray", workers=2)
    rng = np.random.default_rng(0)
    try:
        obs = remote.reset()
        before = remote.actor_pids()
        for _ in range(5):
            obs, *_ = remote.step(_masked_actions(obs, rng))
        ray.kill(remote.actors[1], no_restart=False)  # mid-rollout (the kill takes effect asynchronously)
        for _ in range(50):
            obs, rewards, dones, infos = remote.step(_masked_actions(obs, rng))
            if infos[2].get("worker_restarted"):
                break
            time.sleep(0.1)
        assert dones[2] and dones[3] and infos[3]["worker_restarted"]  # the lost episodes end there
        assert rewards[2] == 0.0 and "expression" not in infos[2]  # never evaluated, never stored
        assert remote.restarts == [0, 1]
        after = remote.actor_pids()
        assert after[0] == before[0] and after[1] != before[1]
        done_later = 0
        for _ in range(40):  # the rebuilt environments play on
            obs, rewards, dones, infos = remote.step(_masked_actions(obs, rng))
            done_later += int(dones[2:].sum())
        assert done_later > 0
    finally:
        remote.close()


def test_train_ppo_job_with_ray_environments(ray_local, tmp_path):
    """``train_ppo.py --ray ... --workers 2``: the job trains with its environments in Ray actors."""
    from agents.job import PPOJobSettings, run_ppo_job
    from agents.settings import FineTuneSettings

    args = PPOJobSettings(ray="auto", workers=2, n_envs=2, total_timesteps=64, quick_pretrain=True,
                          checkpoint=str(tmp_path / "decoder.pt"), runs_dir=str(tmp_path / "runs"),
                          progress=False, time_limit_minutes=3,
                          fine_tune=FineTuneSettings(n_steps=32, batch_size=32, n_epochs=1))
    summary = run_ppo_job(args, root=tmp_path)
    assert summary["timesteps"] >= 64 and summary["evaluations"] > 0
    assert "pool" not in summary  # the in-process shared pool is not used across actors
