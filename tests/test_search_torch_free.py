"""The search package is usable without torch, and the torch packages say which extra they need."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: A sys.meta_path finder that makes ``import torch`` fail as if torch were not installed.
BLOCK_TORCH = textwrap.dedent(
    """
    import sys

    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError("No module named 'torch'", name="torch")
            return None

    sys.meta_path.insert(0, _NoTorch())
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def test_searching_with_alpha_env_search_never_imports_torch():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import alpha_env.search as search
        from alpha_env.ace import ACE
        from alpha_env.data import synthetic_market
        from alpha_env.env import AlphaStackEnv

        panel = synthetic_market(seed=0, n_stocks=12, n_days=120)
        ace = ACE(panel)
        gp = search.genetic_search(search.ace_fitness(ace), search.Primitives.for_panel(panel),
                                   search.GPSettings(population_size=6, budget=10, max_len=10),
                                   np.random.default_rng(0))
        env = AlphaStackEnv(panel, max_len=8)
        history = search.random_search(env, 5, seed=0)
        pnl = np.random.default_rng(1).normal(0.001, 0.01, 250)
        dsr = search.deflated_sharpe_from_pnl(pnl, 10, [0.01 * i for i in range(10)])
        print(gp.evaluations, len(history), 0.0 <= dsr <= 1.0, "torch" in sys.modules)
        """
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["10", "5", "True", "False"]


def test_alpha_env_search_imports_with_torch_blocked():
    proc = _run(BLOCK_TORCH + "import alpha_env.search as s\nfor n in s.__all__: getattr(s, n)\nprint('ok')")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("package", ["agents", "encoders"])
def test_torch_packages_name_the_extra_when_torch_is_missing(package):
    proc = _run(BLOCK_TORCH + f"import {package}")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (f"ImportError: {package} needs the optional 'rl' extra: pip install 'alpha-env[rl]'")
    assert "During handling" not in proc.stderr  # raised ``from None``: one error, not a chain
