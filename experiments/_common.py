"""What every experiment script needs before it starts: the checkout on ``sys.path``, thread settings, and
short names for the library functions they call.

Experiment scripts read top to bottom (CleanRL style) and keep no logic of their own beyond parsing and
printing; the library holds it: :mod:`alpha_env.options` (dataclass settings → options,
:func:`parse_args`), :func:`alpha_env.data.resolve_panel` (``load_market``), :mod:`agents.runs` (run
names, vector envs, the stage-1 actor; loaded lazily because it needs torch).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Numba's OpenMP threading layer resets OpenMP's thread count and leaves spinning threads behind after
# each parallel kernel; in the same process that makes torch's small-batch forward passes 10-100x slower.
# Numba's own "workqueue" layer and passive OpenMP waiting avoid it (set before numba/torch load).
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python experiments/x.py` from a checkout
    sys.path.insert(0, str(ROOT))

from alpha_env.data import resolve_panel as load_market  # noqa: E402  (the one reading of --data)
from alpha_env.options import build_parser, field_docs, parse_args  # noqa: E402

__all__ = ["run_cli",
    "ROOT",
    "DEFAULT_CHECKPOINT",
    "parse_args",
    "build_parser",
    "field_docs",
    "load_market",
]  # plus, loaded on first use, the names of _AGENT_RUNS

DEFAULT_CHECKPOINT = ROOT / "artifacts" / "alpha_decoder.pt"
"""Where ``experiments/pretrain_decoder.py`` writes the stage-1 actor and ``train_ppo.py`` looks for it."""

#: Names re-exported lazily from ``agents.runs`` (they need torch / SB3; torch-free scripts never load it).
_AGENT_RUNS = ("run_name", "env_label", "make_env_fn", "make_vec", "ensure_pretrained", "cache_stats_of")


def __getattr__(name: str) -> Any:
    if name in _AGENT_RUNS:
        import agents.runs

        return getattr(agents.runs, name)
    raise AttributeError(f"module '_common' has no attribute {name!r}")


def run_cli(main: Callable[..., Any], name: str, argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)`` as a command: a user error (any ``AlphaEnvError``: bad data, settings,
    checkpoints) prints one line ``<name>: error: ...`` and returns 2 instead of a traceback; else 0."""
    from alpha_env.errors import AlphaEnvError

    try:
        main(argv)
    except AlphaEnvError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    return 0
