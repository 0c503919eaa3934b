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

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.policy import (
    ALPHA_ENCODER_KINDS,
    ALPHA_ENCODERS,
    DecoderActorCriticPolicy,
    MaskableDecoderActorCriticPolicy,
)
from alpha_env.errors import SettingsError
from encoders.finetune import SlantedTriangular, constant_schedule
from encoders.fusion import FUSION_KINDS

__all__ = ["ALGORITHMS", "EncoderSettings", "FineTuneSettings", "build_agent", "load_agent",
           "policy_kwargs_for"]

ALGORITHMS: dict[str, tuple[type[BaseAlgorithm], type]] = {
    "ppo": (PPO, DecoderActorCriticPolicy),
    "maskable_ppo": (MaskablePPO, MaskableDecoderActorCriticPolicy),
}
"""The one registry of supported algorithms: name → (algorithm class, decoder policy class)."""


@dataclass(frozen=True)
class FineTuneSettings:
    """Hyperparameters of stage-2 fine-tuning (PPO on the backtest reward).

    Attributes:
        learning_rate: peak learning rate of the top decoder layer group and of the value head.
        lr_schedule: ``"stlr"`` (slanted triangular, ULMFiT) or ``"constant"``.
        stlr_cut_frac: share of training spent warming up (STLR).
        stlr_ratio: peak / lowest learning rate (STLR).
        layer_lr_decay: discriminative rates: each decoder layer group below the top learns at this multiple
            of the group above (1.0 = one rate for all).
        n_steps: environment steps per environment per rollout.
        batch_size: minibatch size of the PPO update.
        n_epochs: passes over each rollout.
        gamma: discount (1.0: the only reward comes at the end of a short episode).
        gae_lambda: GAE parameter.
        clip_range: PPO ratio clip.
        ent_coef: entropy bonus coefficient (keeps the pretrained actor from collapsing).
        kl_coef: coefficient of KL(π ‖ π₀) to the frozen initial actor (0 = off; needs ``ent_coef > 0``).
        vf_coef: value-loss coefficient.
        max_grad_norm: gradient clipping norm.
        target_kl: stop an update early when the approximate KL exceeds 1.5× this (``None`` = never).
        value_hidden: width of the value head.
        critic_grad: let the value loss train the decoder too.
        unfreeze_every: gradual unfreezing, one decoder layer group every this many rollouts (0 = off:
            everything trains from the start).
    """

    learning_rate: float = 3e-4
    lr_schedule: str = "stlr"
    stlr_cut_frac: float = 0.1
    stlr_ratio: float = 8.0
    layer_lr_decay: float = 1.0 / 2.6
    n_steps: int = 128
    batch_size: int = 128
    n_epochs: int = 4
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    kl_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = 0.05
    value_hidden: int = 64
    critic_grad: bool = False
    unfreeze_every: int = 0

    def schedule(self) -> Any:
        """The SB3 learning-rate schedule these settings name."""
        if self.lr_schedule == "stlr":
            return SlantedTriangular(self.learning_rate, self.stlr_cut_frac, self.stlr_ratio)
        if self.lr_schedule == "constant":
            if not self.learning_rate > 0:
                raise SettingsError(f"learning_rate must be > 0, got {self.learning_rate}")
            return constant_schedule(self.learning_rate)
        raise SettingsError(f"lr_schedule must be 'stlr' or 'constant', got {self.lr_schedule!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for hyperparameter logs)."""
        return asdict(self)


@dataclass(frozen=True)
class EncoderSettings:
    """The policy's encoders of the partial expression, and how their encoding meets the document.

    Attributes:
        alpha_encoder: none (the decoder alone), stack (a frozen pretrained AlphaEncoder over the partial
            AlphaStack) or tree (a frozen pretrained AlphaTreeEncoder, node convolution over its tree), fused
            with the document vector into the decoder's cross-attention memory.
        fusion: with --alpha-encoder stack or tree: concat, cross_attention (alpha tokens query the document's
            key/value slots) or gated (a learned gate between the alpha and the document).
        alpha_checkpoint: with --alpha-encoder stack or tree: the pretrained encoder checkpoint
            (experiments/pretrain_alpha_encoder.py writes runs/<run>/alpha_encoder.pt, and with
            --encoder tree or both runs/<run>/alpha_tree_encoder.pt).
    """

    alpha_encoder: str = field(default="none", metadata={"choices": ALPHA_ENCODERS})
    fusion: str = field(default="concat", metadata={"choices": FUSION_KINDS})
    alpha_checkpoint: str | None = None

    def __post_init__(self) -> None:
        if self.alpha_encoder not in ALPHA_ENCODERS:
            raise SettingsError(f"alpha_encoder must be one of {ALPHA_ENCODERS}, got {self.alpha_encoder!r}")
        if self.fusion not in FUSION_KINDS:
            raise SettingsError(f"fusion must be one of {FUSION_KINDS}, got {self.fusion!r}")

    def describe(self) -> str:
        """``alpha encoder stack, fusion gated`` (or ``alpha encoder none``), for messages."""
        if self.alpha_encoder == "none":
            return "alpha encoder none"
        return f"alpha encoder {self.alpha_encoder}, fusion {self.fusion}"


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
