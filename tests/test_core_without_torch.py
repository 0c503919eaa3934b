"""The light core works without the ``rl`` extra: CLI and env run with torch & co. made unimportable."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKED = ("torch", "transformers", "stable_baselines3", "sb3_contrib", "tensorboard", "sklearn")

_SCRIPT = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = {blocked!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
            return None

    sys.meta_path.insert(0, Block())
    import gymnasium as gym
    import alpha_env.env  # registers the ids
    from alpha_env.cli import main

    db = {db!r}
    assert main(["parse", "rank(delta(close, 5))", "--json"]) == 0
    assert main(["simulate", "rank(-delta(close, 5))", "--db", db, "--no-png", "--json"]) == 0
    assert main(["top", "--db", db, "--json"]) == 0
    env = gym.make("AlphaEnv/AlphaStack-v0", max_len=8)
    obs, info = env.reset(seed=0)
    done = False
    while not done:
        action = int(env.unwrapped.np_random.choice(info["action_mask"].nonzero()[0]))
        obs, reward, term, trunc, info = env.step(action)
        done = term or trunc
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("CORE-OK", info["reason"])
""")


def test_cli_and_env_work_without_the_rl_extra(tmp_path):
    script = _SCRIPT.format(blocked=BLOCKED, db=str(tmp_path / "alphas.db"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "CORE-OK" in proc.stdout
