"""Helpers shared by the experiment scripts: dataclass arguments, run folders, envs, the actor checkpoint.

Experiment scripts read top to bottom (CleanRL style); what they share lives here:

* :func:`parse_args` — an ``argparse`` parser built from a dataclass of arguments (``--total-timesteps``
  for the field ``total_timesteps``; help text from the docstring under each field);
* :func:`run_name` — ``{env}__{exp}__{seed}__{unix time}``;
* :func:`make_env_fn` / :func:`make_vec` — AlphaStack environments (one panel, an optional shared store);
* :func:`ensure_pretrained` — the stage-1 actor checkpoint: loaded when present, otherwise produced by a
  short pretraining (said on the console);
* :func:`cache_stats_of` — the sub-expression cache counters of a vector env's evaluators.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import types
import typing
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

__all__ = ["run_cli",
    "ROOT",
    "DEFAULT_CHECKPOINT",
    "parse_args",
    "build_parser",
    "field_docs",
    "run_name",
    "env_label",
    "load_market",
    "make_env_fn",
    "make_vec",
    "ensure_pretrained",
    "cache_stats_of",
]

DEFAULT_CHECKPOINT = ROOT / "artifacts" / "alpha_decoder.pt"
"""Where ``experiments/pretrain_decoder.py`` writes the stage-1 actor and ``train_ppo.py`` looks for it."""


# --------------------------------------------------------------------------- arguments
def _base_type(annotation: Any) -> tuple[type, bool]:
    """``(type, optional)`` of a dataclass field annotation such as ``int``, ``str | None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _optional(kind: type) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        return None if text.lower() in ("none", "null", "") else kind(text)

    convert.__name__ = kind.__name__
    return convert


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (CleanRL / tyro style), by field name."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def build_parser(cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one ``--kebab-case`` option per field of the dataclass ``cls``."""
    parser = argparse.ArgumentParser(
        description=description or (cls.__doc__ or "").strip().splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        kind, optional = _base_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", docs.get(f.name, ""))
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if kind is bool:
            parser.add_argument(flag, default=default, action=argparse.BooleanOptionalAction, help=help_text)
            continue
        kwargs: dict[str, Any] = {"default": default, "help": help_text, "dest": f.name}
        if typing.get_origin(kind) is list:
            kwargs.update(nargs="+", type=typing.get_args(kind)[0])
            parser.add_argument(flag, **kwargs)
            continue
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        kwargs["type"] = _optional(kind) if optional else kind
        parser.add_argument(flag, **kwargs)
    return parser


def parse_args(cls: type, argv: Sequence[str] | None = None, description: str | None = None) -> Any:
    """Parse the command line into an instance of the dataclass ``cls``.

    ``description`` heads ``--help`` (default: the first line of the dataclass's docstring).
    """
    namespace = build_parser(cls, description).parse_args(argv)
    return cls(**vars(namespace))


def run_name(env_id: str, exp_name: str, seed: int) -> str:
    """``{env}__{exp}__{seed}__{unix time}`` (CleanRL's convention; ``/`` in the env id becomes ``-``)."""
    return f"{env_id.replace('/', '-')}__{exp_name}__{seed}__{int(time.time())}"


def env_label(data: str | None) -> str:
    """Short name of the market for run names: ``AlphaStack-v0`` or ``AlphaStack-<dataset>``."""
    return "AlphaStack-v0" if data is None else f"AlphaStack-{Path(data).name.split('.')[0]}"


# --------------------------------------------------------------------------- market and environments
def load_market(data: str | None) -> Any:
    """The market panel: the embedded synthetic market (``None``) or a dataset path."""
    from alpha_env.env.sources import resolve_panel

    return resolve_panel(data)


def make_env_fn(panel: Any, *, max_len: int, store: str | None, settings: Any = None,
                document_embeddings: Any = None, **env_kwargs: Any) -> Callable[[], Any]:
    """A thunk building one AlphaStack environment on ``panel`` (for SB3's ``make_vec_env``).

    Each environment opens its own connection to the SQLite store at ``store`` (WAL: safe for several
    writers, also across subprocess workers).
    """

    def make() -> Any:
        from alpha_env.env.alpha_stack_env import AlphaStackEnv

        return AlphaStackEnv(panel, max_len=max_len, store=store,
                             settings=settings, document_embeddings=document_embeddings, **env_kwargs)

    return make


def make_vec(env_fn: Callable[[], Any], n_envs: int, seed: int, kind: str = "dummy") -> Any:
    """``n_envs`` Monitor-wrapped copies in a ``DummyVecEnv`` (``kind="dummy"``) or ``SubprocVecEnv``."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from alpha_env.errors import SettingsError

    classes = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}
    if kind not in classes:
        raise SettingsError(f"vec_env must be one of {sorted(classes)}, got {kind!r}")
    return make_vec_env(env_fn, n_envs=n_envs, seed=seed, vec_env_cls=classes[kind])


def cache_stats_of(vec_env: Any) -> Callable[[], tuple[int, int]] | None:
    """A callable summing ``(hits, misses)`` of the environments' evaluator caches (in-process envs only).

    Returns ``None`` for subprocess vector envs (their evaluators live in the workers).
    """
    from stable_baselines3.common.vec_env import DummyVecEnv

    if not isinstance(vec_env, DummyVecEnv):
        return None

    def stats() -> tuple[int, int]:
        hits = misses = 0
        for evaluator in vec_env.get_attr("evaluator"):
            s = evaluator.cache_stats()
            hits += int(s.hits)
            misses += int(s.misses)
        return hits, misses

    return stats


# --------------------------------------------------------------------------- the stage-1 actor
def ensure_pretrained(path: str | Path, codebook: Any, *, ace: Any = None, quick: bool = False,
                      seed: int = 0, console: Any = None, allow_pretrain: bool = True) -> Path:
    """The stage-1 actor checkpoint at ``path``; pretrained (and written there) first if it is missing.

    A checkpoint for another codebook is an error (:class:`encoders.CodebookMismatchError`), not a
    silent re-training.
    """
    from agents.pretraining import PretrainSettings, pretrain_actor
    from alpha_env.errors import SettingsError
    from encoders import load_checkpoint, save_checkpoint

    target = Path(path)
    if target.is_file():
        load_checkpoint(target, codebook, kind="alpha_decoder")  # guard: right kind, right codebook
        return target
    if not allow_pretrain:
        raise SettingsError(f"no pretrained actor at {target}; run experiments/pretrain_decoder.py first")
    settings = PretrainSettings.quick(seed=seed) if quick else PretrainSettings(seed=seed)
    say = console.print if console is not None else print
    say(f"No pretrained actor at {target}: pretraining one first "
        f"({settings.corpus_size} corpus expressions, {settings.epochs} epochs; "
        "run experiments/pretrain_decoder.py to do this separately).")
    decoder, report = pretrain_actor(codebook, settings, ace=ace, show_progress=console is not None)
    save_checkpoint(decoder, target, extra={"pretrain_report": report.as_dict(),
                                            "settings": dataclasses.asdict(settings)})
    say(f"Pretrained actor written to {target} in {report.seconds:.0f} s: held-out next-token accuracy "
        f"{report.holdout_accuracy:.3f}, sampled expressions valid {report.sample_valid_rate:.0%}, "
        f"non-degenerate {report.sample_nondegenerate_rate:.0%}.")
    return target


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
