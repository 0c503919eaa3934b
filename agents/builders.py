"""Build, save and reload PPO / MaskablePPO agents whose actor is the AlphaDecoder.

=================  ===================================  ==========================================
``algo``           algorithm                            policy class
=================  ===================================  ==========================================
``ppo``            ``stable_baselines3.PPO``            :class:`DecoderActorCriticPolicy`
``maskable_ppo``   ``sb3_contrib.MaskablePPO``          :class:`MaskableDecoderActorCriticPolicy`
=================  ===================================  ==========================================

Both sample only allowed tokens: the policy masks its logits with the observation's ``action_mask``;
``MaskablePPO`` additionally passes the environment's ``action_masks()``.

Example::

    from agents import FineTuneSettings, build_agent
    model = build_agent("ppo", vec_env, decoder_config=cfg.to_dict(), init_checkpoint="artifacts/decoder.pt",
                        settings=FineTuneSettings(), seed=0, tensorboard_log="runs/x")
    model.learn(20_000, progress_bar=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.policy import (
    ALPHA_ENCODER_KINDS,
    DecoderActorCriticPolicy,
    MaskableDecoderActorCriticPolicy,
)
from agents.settings import EncoderSettings, FineTuneSettings
from alpha_env.errors import SettingsError

__all__ = ["ALGORITHMS", "build_agent", "load_agent", "policy_kwargs_for"]

ALGORITHMS: dict[str, tuple[type[BaseAlgorithm], type]] = {
    "ppo": (PPO, DecoderActorCriticPolicy),
    "maskable_ppo": (MaskablePPO, MaskableDecoderActorCriticPolicy),
}
"""The one registry of supported algorithms: name → (algorithm class, decoder policy class)."""


def _encoder_kwargs(encoder: EncoderSettings, codebook_version: str) -> dict[str, Any]:
    """The policy keyword arguments of ``encoder`` (the AlphaEncoder's config is read from its checkpoint)."""
    if encoder.alpha_encoder == "none":
        return {"alpha_encoder": "none", "alpha_encoder_config": None, "alpha_checkpoint": None,
                "fusion": encoder.fusion}
    if encoder.alpha_checkpoint is None:
        raise SettingsError(
            f"--alpha-encoder {encoder.alpha_encoder} needs --alpha-checkpoint (a pretrained encoder: "
            "python experiments/pretrain_alpha_encoder.py --encoder stack|tree)"
        )
    from encoders import load_checkpoint

    loaded = load_checkpoint(encoder.alpha_checkpoint, codebook_version,
                             kind=ALPHA_ENCODER_KINDS[encoder.alpha_encoder]).model
    return {"alpha_encoder": encoder.alpha_encoder, "alpha_encoder_config": loaded.config.to_dict(),
            "alpha_checkpoint": str(encoder.alpha_checkpoint), "fusion": encoder.fusion}


def policy_kwargs_for(
    decoder_config: dict[str, Any],
    init_checkpoint: str | Path | None,
    settings: FineTuneSettings,
    init_seed: int | None = 0,
    encoder: EncoderSettings | None = None,
) -> dict[str, Any]:
    """The ``policy_kwargs`` of a decoder policy (plain values, saved with the model)."""
    encoder_kwargs = _encoder_kwargs(encoder or EncoderSettings(), str(decoder_config["codebook_version"]))
    return {
        **encoder_kwargs,
        "decoder_config": dict(decoder_config),
        "init_checkpoint": None if init_checkpoint is None else str(init_checkpoint),
        "init_seed": init_seed,
        "value_hidden": settings.value_hidden,
        "critic_grad": settings.critic_grad,
        "layer_lr_decay": settings.layer_lr_decay,
        "kl_coef": settings.kl_coef,
        "ent_coef": settings.ent_coef,
    }


def build_agent(
    algo: str,
    env: VecEnv,
    *,
    decoder_config: dict[str, Any],
    init_checkpoint: str | Path | None,
    settings: FineTuneSettings | None = None,
    seed: int = 0,
    tensorboard_log: str | Path | None = None,
    verbose: int = 0,
    device: str = "cpu",
    encoder: EncoderSettings | None = None,
) -> BaseAlgorithm:
    """A PPO-family agent with the decoder actor.

    Args:
        algo: a key of :data:`ALGORITHMS`.
        env: the (vectorized) AlphaStack environment.
        decoder_config: the decoder architecture (``AlphaDecoderConfig.to_dict()``).
        init_checkpoint: the stage-1 checkpoint loaded as the initial actor, or ``None`` for a randomly
            initialized actor (seeded by ``seed``).
        settings: fine-tuning hyperparameters (defaults: :class:`FineTuneSettings`).
        seed: seed of the algorithm (sampling, minibatch order) and of a random actor initialization.
        tensorboard_log: folder of the TensorBoard logs (``None``: no TensorBoard).
        verbose: SB3 verbosity.
        device: torch device.
        encoder: the alpha encoder and fusion (default: none, the decoder alone).
    """
    if algo not in ALGORITHMS:
        raise SettingsError(f"algo must be one of {sorted(ALGORITHMS)}, got {algo!r}")
    settings = settings or FineTuneSettings()
    algorithm, policy = ALGORITHMS[algo]
    if settings.n_steps * env.num_envs < settings.batch_size:
        raise SettingsError(
            f"a rollout of n_steps × n_envs = {settings.n_steps * env.num_envs} steps is smaller than "
            f"batch_size {settings.batch_size}"
        )
    return algorithm(
        policy,
        env,
        learning_rate=settings.schedule(),
        n_steps=settings.n_steps,
        batch_size=settings.batch_size,
        n_epochs=settings.n_epochs,
        gamma=settings.gamma,
        gae_lambda=settings.gae_lambda,
        clip_range=settings.clip_range,
        ent_coef=settings.ent_coef,
        vf_coef=settings.vf_coef,
        max_grad_norm=settings.max_grad_norm,
        target_kl=settings.target_kl,
        policy_kwargs=policy_kwargs_for(decoder_config, init_checkpoint, settings, seed, encoder),
        tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
        seed=seed,
        verbose=verbose,
        device=device,
    )


def load_agent(
    algo: str | None,
    path: str | Path,
    env: VecEnv | None = None,
    *,
    device: str = "cpu",
    encoder: EncoderSettings | None = None,
) -> BaseAlgorithm:
    """Reload a saved agent (``model.save(path)``) to continue training or to act.

    ``algo`` may be ``None``: the algorithm is then read from the saved policy class. The stage-1
    checkpoint is not read again: the saved weights (actor, critic, frozen reference and optimizer state)
    replace everything, so a resumed run does not need the original checkpoint file (nor the alpha
    encoder's). With ``encoder`` given, the saved model must have been built with the same alpha encoder
    and fusion (``alpha_checkpoint`` is not compared): other options are a :class:`SettingsError`.
    """
    if algo is not None and algo not in ALGORITHMS:
        raise SettingsError(f"algo must be one of {sorted(ALGORITHMS)}, got {algo!r}")
    source = Path(path)
    if not source.is_file() and not source.with_suffix(".zip").is_file():
        raise SettingsError(f"no saved agent at {source}")
    from stable_baselines3.common.save_util import load_from_zip_file

    data, _, _ = load_from_zip_file(source, device=device, load_data=True)
    data = data or {}
    kwargs = dict(data.get("policy_kwargs") or {})
    if "decoder_config" not in kwargs:
        raise SettingsError(f"{source} was not saved by a decoder-policy agent")
    policy_class = data.get("policy_class")
    saved = next((name for name, (_, policy) in ALGORITHMS.items() if policy_class is policy), None)
    if saved is None:
        raise SettingsError(f"{source} holds an unknown policy class {data.get('policy_class')!r}")
    if algo is not None and algo != saved:
        raise SettingsError(f"{source} was saved by {saved}, not {algo}")
    if encoder is not None:
        saved_encoder = EncoderSettings(alpha_encoder=kwargs.get("alpha_encoder", "none"),
                                        fusion=kwargs.get("fusion", "concat"))
        wanted = EncoderSettings(alpha_encoder=encoder.alpha_encoder, fusion=encoder.fusion)
        if saved_encoder.describe() != wanted.describe():
            raise SettingsError(
                f"{source} was saved with {saved_encoder.describe()}, not {wanted.describe()}: "
                "resume with the options it was trained with"
            )
    kwargs["init_checkpoint"] = None
    kwargs["alpha_checkpoint"] = None
    algorithm, _ = ALGORITHMS[saved]
    return algorithm.load(source, env=env, device=device, custom_objects={"policy_kwargs": kwargs})
