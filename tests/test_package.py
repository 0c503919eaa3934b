"""Package-level promises: a light top-level import, every public name resolves, one CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_alpha_env_loads_neither_torch_nor_transformers_nor_numba():
    code = (
        "import sys, alpha_env\n"
        "heavy = ('torch', 'transformers', 'numba', 'pandas', 'gymnasium')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_the_core_library_never_imports_torch():
    code = (
        "import sys\n"
        "from alpha_env import ACE, synthetic_market\n"
        "import alpha_env.env\n"
        "panel = synthetic_market(seed=0, n_stocks=12, n_days=80)\n"
        "ACE(panel).simulate('rank(-delta(close, 5))', save=False)\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    assert _run(code) == "False False"


def test_every_public_name_resolves():
    import alpha_env

    for name in alpha_env.__all__:
        assert getattr(alpha_env, name) is not None, name
    with pytest.raises(AttributeError):
        alpha_env.no_such_name  # noqa: B018


def test_every_cli_subcommand_offers_json():
    from alpha_env.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)
    assert {"parse", "data", "simulate", "top", "report", "submit"} <= names

    def has_json(p) -> bool:
        if any("--json" in a.option_strings for a in p._actions):
            return True
        nested = [a for a in p._actions if getattr(a, "choices", None) and isinstance(a.choices, dict)]
        return bool(nested) and all(has_json(c) for a in nested for c in a.choices.values())

    for name, p in sub.choices.items():
        assert has_json(p), f"alpha-env {name} has no --json"
