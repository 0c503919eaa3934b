"""Ray actors writing to one alpha store (SQLite file or PostgreSQL server): the cluster's store.

Environments in two Ray actors save their found alphas to one store, concurrently. The store must end up
holding what one process playing the same episodes in order stores (the same alphas, each signal once,
one simulation and one PnL series per alpha), and a worker killed in the middle of a rollout must lose
none of the alphas the driver was told about and write none twice.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

from agents.runs import make_env_fn, make_vec  # noqa: E402
from alpha_env.ace import AlphaStore  # noqa: E402
from alpha_env.data import synthetic_market  # noqa: E402
from alpha_env.env.alpha_stack_env import AlphaStackEnv  # noqa: E402
from alpha_env.pool import signal_fingerprint  # noqa: E402
from tests import pg_support  # noqa: E402
from tests.pg_support import is_pg, raw_execute  # noqa: E402

pg_server, store_url = pg_support.pg_server, pg_support.store_url  # fixtures (tests/pg_support.py)


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=1, n_stocks=30, n_days=600, news=False)


def _another_store(url: str, request, tmp_path) -> str:
    """A second, empty store on the same backend as ``url``."""
    if is_pg(url):
        return request.getfixturevalue("pg_server").new_database()
    return str(tmp_path / "local.db")


def _rollout(vec, steps: int, seed: int = 0) -> list[str]:
    """Masked random actions; the alpha ids of the episodes that ended rewarded (``reason`` complete)."""
    rng = np.random.default_rng(seed)
    obs = vec.reset()
    found: list[str] = []
    for _ in range(steps):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in obs["action_mask"]])
        obs, _, _, infos = vec.step(actions)
        found += [i["alpha_id"] for i in infos if i.get("reason") == "complete"]
    return found


def _stored(url: str) -> dict[str, str]:
    """alpha id -> signal fingerprint of every stored alpha, after checking the store's shape: sound,
    one simulation per alpha, one PnL series per simulation, no fingerprint stored twice."""
    with AlphaStore(url) as store:
        assert store.integrity_check() == "ok"
        counts = store.counts()
    rows = raw_execute(url, "SELECT alpha_id, fingerprint FROM alphas", fetch=True)
    per_alpha = raw_execute(url, "SELECT alpha_id, COUNT(*) FROM simulations GROUP BY alpha_id", fetch=True)
    assert counts["simulations"] == counts["alphas"] == len(rows) and counts["pnl_series"] == len(rows)
    assert all(n == 1 for _, n in per_alpha) and len(per_alpha) == len(rows)
    fingerprints = [f for _, f in rows]
    assert None not in fingerprints and len(set(fingerprints)) == len(fingerprints)
    return {str(a): str(f) for a, f in rows}


def test_actors_write_one_store_as_one_process_would(ray_local, panel, store_url, request, tmp_path):
    local_url = _another_store(store_url, request, tmp_path)
    local = make_vec(make_env_fn(panel, store=local_url), 4, seed=5, kind="dummy")
    remote = make_vec(make_env_fn(panel, store=store_url), 4, seed=5, kind="ray", workers=2)
    try:
        seen_local, seen_remote = _rollout(local, 200), _rollout(remote, 200)
    finally:
        local.close()
        remote.close()
    assert sorted(seen_local) == sorted(seen_remote)  # the same episodes (tests/test_ray_vec_env.py)
    ours, theirs = _stored(store_url), _stored(local_url)
    assert len(ours) >= 4
    # two actors writing at once store the same signals; which of two alphas with one signal is kept may
    # differ (the order of writes across actors is not the sequential one), so compare the signals
    assert sorted(ours.values()) == sorted(theirs.values())
    assert set(ours) <= set(seen_remote)  # nothing the driver never heard of
    with AlphaStore(store_url) as a, AlphaStore(local_url) as b:
        for alpha_id in set(ours) & set(theirs):
            assert a.get(alpha_id).metrics == b.get(alpha_id).metrics


def test_a_killed_worker_loses_no_stored_alpha_and_writes_none_twice(ray_local, panel, pg_server):
    url = pg_server.new_database()
    remote = make_vec(make_env_fn(panel, store=url), 4, seed=9, kind="ray", workers=2)
    rng = np.random.default_rng(1)
    seen: dict[str, str] = {}  # alpha id -> expression, of every rewarded episode the driver heard of

    def step(obs):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in obs["action_mask"]])
        obs, _, _, infos = remote.step(actions)
        seen.update((i["alpha_id"], i["expression"]) for i in infos if i.get("reason") == "complete")
        return obs, infos

    try:
        obs = remote.reset()
        for _ in range(100):
            obs, _ = step(obs)
        before = len(seen)
        ray.kill(remote.actors[0], no_restart=False)  # SIGKILL, mid-rollout, maybe mid-write
        for _ in range(50):
            obs, infos = step(obs)
            if infos[0].get("worker_restarted"):
                break
            time.sleep(0.1)
        assert infos[0].get("worker_restarted") and infos[1].get("worker_restarted")
        assert remote.restarts == [1, 0]
        for _ in range(100):  # the restarted actor writes to the same store again
            obs, _ = step(obs)
    finally:
        remote.close()
    assert before >= 2 and len(seen) > before, (before, len(seen))
    stored = _stored(url)  # sound, one simulation per alpha, no signal twice
    env = AlphaStackEnv(panel)
    try:
        fingerprints = set(stored.values())
        for alpha_id, text in seen.items():
            if alpha_id not in stored:  # stored as another alpha with the same signal, or lost
                signal = env.ace.evaluator.evaluate(text)
                assert signal_fingerprint(signal, env.train) in fingerprints, text
    finally:
        env.close()
