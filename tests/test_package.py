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


def test_lazy_exports_import_a_name_on_first_use_only(tmp_path, monkeypatch):
    from alpha_env.lazy import lazy_exports

    pkg = tmp_path / "lazy_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from alpha_env.lazy import lazy_exports\n"
        "__all__, __getattr__, __dir__ = lazy_exports(__name__, {'heavy': ('VALUE', 'twice')})\n"
    )
    (pkg / "heavy.py").write_text("VALUE = 42\n\ndef twice(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazy_probe

    assert lazy_probe.__all__ == ["VALUE", "twice"]
    assert "lazy_probe.heavy" not in sys.modules
    assert {"VALUE", "twice"} <= set(dir(lazy_probe))
    assert lazy_probe.twice(lazy_probe.VALUE) == 84
    assert "lazy_probe.heavy" in sys.modules
    assert vars(lazy_probe)["VALUE"] == 42  # kept in the namespace: later accesses are plain lookups
    with pytest.raises(AttributeError, match="module 'lazy_probe' has no attribute 'missing'"):
        lazy_probe.missing  # noqa: B018
    from lazy_probe import heavy  # a submodule still imports as one

    assert heavy.VALUE == 42
    with pytest.raises(ValueError, match="'x' is exported by both a and b"):
        lazy_exports("p", {"a": ("x",), "b": ("x",)})


@pytest.mark.parametrize("package", ["agents", "encoders"])
def test_every_public_name_of_the_torch_packages_resolves(package):
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_the_main_job_parses_its_options_without_torch():
    """``train_ppo.py --help`` and option parsing import the settings only: no torch, SB3 or transformers
    (they took 6 s before the agents' and encoders' names loaded lazily)."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'experiments')\n"
        "import train_ppo\n"
        "from agents.job import PPOJobSettings\n"
        "from agents.settings import EncoderSettings, FineTuneSettings\n"
        "from alpha_env.options import parse_args\n"
        "args = parse_args(PPOJobSettings, ['--fusion', 'gated', '--doc-finetune-top-layers', '3',\n"
        "                                   '--learning-rate', '1e-4'])\n"
        "assert args.encoder == EncoderSettings(fusion='gated'), args.encoder\n"
        "assert args.fine_tune.learning_rate == 1e-4 and args.doc_finetune.top_layers == 3\n"
        "heavy = ('torch', 'transformers', 'stable_baselines3', 'sb3_contrib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert _run(code) == "[]"
    help_text = subprocess.run([sys.executable, "experiments/train_ppo.py", "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
    assert "--fusion" in help_text and "--doc-finetune-top-layers" in help_text
