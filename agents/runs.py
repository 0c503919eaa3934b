"""What a training run needs around the agent: run names, vector envs, the stage-1 actor checkpoint.

* :func:`run_name` — ``{env}__{exp}__{seed}__{unix time}`` (CleanRL's convention);
* :func:`make_env_fn` / :func:`make_vec` — AlphaStack environments (one panel, an optional shared store)
  in an SB3 vector env;
* :func:`cache_stats_of` — the sub-expression cache counters of a vector env's evaluators;
* :func:`ensure_pretrained` — the stage-1 actor checkpoint: loaded when present, otherwise produced by a
  short pretraining (said on the console).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["run_name", "env_label", "make_env_fn", "make_vec", "cache_stats_of", "ensure_pretrained"]


def run_name(env_id: str, exp_name: str, seed: int) -> str:
    """``{env}__{exp}__{seed}__{unix time}`` (CleanRL's convention; ``/`` in the env id becomes ``-``)."""
    return f"{env_id.replace('/', '-')}__{exp_name}__{seed}__{int(time.time())}"


def env_label(data: str | None) -> str:
    """Short name of the market for run names: ``AlphaStack-v0`` or ``AlphaStack-<dataset>``."""
    return "AlphaStack-v0" if data is None else f"AlphaStack-{Path(data).name.split('.')[0]}"


def make_env_fn(panel: Any, *, store: str | None, settings: Any = None, env_settings: Any = None,
                document_embeddings: Any = None, **options: Any) -> Callable[[], Any]:
    """A thunk building one AlphaStack environment on ``panel`` (for SB3's ``make_vec_env``).

    ``settings`` are the :class:`~alpha_env.ace.SimulationSettings`, ``env_settings`` the
    :class:`~alpha_env.env.EnvSettings` (``options`` replace some of their fields). Each environment
    opens its own connection to the SQLite store at ``store`` (WAL: safe for several writers, also across
    subprocess workers).
    """

    def make() -> Any:
        from alpha_env.env.alpha_stack_env import AlphaStackEnv

        return AlphaStackEnv(panel, store=store, settings=settings, env_settings=env_settings,
                             document_embeddings=document_embeddings, **options)

    # for vector envs that ship the panel once (agents.ray_vec_env): the panel, and a panel-free factory
    make.panel = panel  # type: ignore[attr-defined]
    make.with_panel = functools.partial(  # type: ignore[attr-defined]
        make_env_fn, store=store, settings=settings, env_settings=env_settings,
        document_embeddings=document_embeddings, **options)
    return make


def make_vec(env_fn: Callable[[], Any], n_envs: int, seed: int, kind: str = "dummy", *,
             ray_address: str | None = None, workers: int = 2) -> Any:
    """``n_envs`` Monitor-wrapped copies in a ``DummyVecEnv`` (``kind="dummy"``), ``SubprocVecEnv``, or
    ``kind="ray"``: a :class:`agents.ray_vec_env.RayVecEnv` of ``workers`` Ray actors (Ray started or
    joined at ``ray_address``: ``local``, ``auto`` or a cluster address)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from alpha_env.errors import SettingsError

    classes = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}
    if kind == "ray":
        from agents.ray_vec_env import RayVecEnv, init_ray

        init_ray(ray_address or "auto")
        return RayVecEnv(env_fn, n_envs, workers=workers, seed=seed)
    if kind not in classes:
        raise SettingsError(f"vec_env must be one of {sorted(classes)} or ray, got {kind!r}")
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


#: torch intra-op threads of the automatic pretraining (``experiments/pretrain_decoder.py``'s default too).
PRETRAIN_THREADS = 1


def ensure_pretrained(path: str | Path, codebook: Any, *, ace: Any = None, quick: bool = False,
                      console: Any = None, allow_pretrain: bool = True) -> Path:
    """The stage-1 actor checkpoint at ``path``; pretrained (and written there) first if it is missing.

    The pretraining always uses :class:`~agents.pretraining.PretrainSettings`' own seed, never the seed of
    the run that happens to find the file missing, and :data:`PRETRAIN_THREADS` torch threads whatever the
    caller uses: the file at a shared path (``artifacts/``) is read by every later run, so its weights must
    not depend on which run created it, and runs started side by side (the study's workers) that both
    pretrain it write the same file. A checkpoint for another
    codebook is an error (:class:`encoders.CodebookMismatchError`), not a silent re-training.
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
    settings = PretrainSettings.quick() if quick else PretrainSettings()
    say = console.print if console is not None else print
    say(f"No pretrained actor at {target}: pretraining one first "
        f"({settings.corpus_size} corpus expressions, {settings.epochs} epochs; "
        "run experiments/pretrain_decoder.py to do this separately).")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(PRETRAIN_THREADS)  # float sums, hence the file's bits, depend on the thread count
    try:
        decoder, report = pretrain_actor(codebook, settings, ace=ace, show_progress=console is not None)
    finally:
        torch.set_num_threads(threads)
    save_checkpoint(decoder, target, extra={"pretrain_report": report.as_dict(),
                                            "settings": dataclasses.asdict(settings)})
    say(f"Pretrained actor written to {target} in {report.seconds:.0f} s: held-out next-token accuracy "
        f"{report.holdout_accuracy:.3f}, sampled expressions valid {report.sample_valid_rate:.0%}, "
        f"non-degenerate {report.nondegenerate_shown(0)}.")
    return target
