"""Settings of the PPO agents, torch-free: parsing them (every experiment's ``--help``) imports no torch.

* :class:`FineTuneSettings` — stage-2 fine-tuning (PPO on the backtest reward);
* :class:`EncoderSettings` — the policy's alpha encoder and its fusion with the document;
* :data:`ALPHA_ENCODERS` — the alpha encoder options.

The job's own settings (:class:`agents.job.PPOJobSettings`) nest these; :mod:`agents.builders` turns them
into SB3 agents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from alpha_env.errors import SettingsError
from encoders.settings import FUSION_KINDS

__all__ = ["ALPHA_ENCODERS", "EncoderSettings", "FineTuneSettings"]

ALPHA_ENCODERS = ("none", "stack", "tree")
"""Encoders of the partial expression the policy can use (``none``: the decoder alone; ``stack``: the
transformer :class:`encoders.AlphaEncoder`; ``tree``: the node-convolutional
:class:`encoders.AlphaTreeEncoder`)."""


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
        from encoders.finetune import SlantedTriangular, constant_schedule

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
