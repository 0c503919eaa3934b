"""Fine-tuning strategies of ULMFiT / FinBERT, the one home for all of them: STLR, discriminative rates,
gradual unfreezing. Used by PPO's stage 2 (``agents.policy``, ``agents.builders``, ``agents.callbacks``)
and by the encoders' pretraining and adaptation (``encoders.pretrain``, ``encoders.adapt_*``).

All of them work on "layer groups": lists of parameters ordered bottom-up (embeddings first, output head
last), as returned by ``AlphaDecoder.layer_groups()``, ``AlphaEncoder.layer_groups()`` or
:func:`bert_layer_groups` for a transformers BERT model.

**The one meaning of ``decay``** (discriminative learning rates): the layer group ``l`` steps below the
top trains at ``lr * decay**l``; ``decay`` is in (0, 1] and 1 turns discriminative rates off (ULMFiT:
1/2.6 per layer; FinBERT: 0.85 per layer).

==========================  ======================================================================
name                        what it does
==========================  ======================================================================
``discriminative_scales``   the per-group multipliers ``decay**l``, bottom-up
``discriminative_groups``   optimizer parameter groups with ``lr * decay**l``
``ScaledAdam``              Adam applying each group's ``lr_scale`` on top of SB3's shared rate
``unfreeze_top``            only the top ``k`` groups train (``requires_grad``)
``unfrozen_groups``         gradual unfreezing: how many top groups train at a step / rollout
``slanted_triangular``      STLR multiplier of a step (for ``LambdaLR``; Howard & Ruder 2018, eq. 3)
``SlantedTriangular``       the same schedule as an SB3 schedule of ``progress_remaining``
``constant_schedule``       a constant learning rate as a picklable SB3 schedule
``bert_layer_groups``       layer groups of a transformers BERT-family model
==========================  ======================================================================

Example:
    >>> groups = decoder.layer_groups()
    >>> optimizer = torch.optim.AdamW(discriminative_groups(groups, lr=3e-4, decay=1 / 2.6))
    >>> schedule = torch.optim.lr_scheduler.LambdaLR(
    ...     optimizer, lambda step: slanted_triangular(step, total_steps=1000))
    >>> unfreeze_top(groups, unfrozen_groups(step, len(groups), every=100))

SB3 writes one learning rate into every parameter group of the optimizer before each update, which would
erase per-layer rates; :class:`ScaledAdam` therefore multiplies each group's rate by the group's
``lr_scale`` entry at every step, so the schedule and the per-layer scales compose.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from alpha_env.errors import SettingsError

__all__ = [
    "discriminative_scales",
    "discriminative_groups",
    "ScaledAdam",
    "unfreeze_top",
    "unfrozen_groups",
    "slanted_triangular",
    "SlantedTriangular",
    "constant_schedule",
    "bert_layer_groups",
]


# --------------------------------------------------------------------------- discriminative rates
def _check_decay(decay: float) -> None:
    if not 0.0 < decay <= 1.0:
        raise SettingsError(f"discriminative learning-rate decay must be in (0, 1], got {decay}")


def discriminative_scales(n_layers: int, decay: float) -> list[float]:
    """Learning-rate multipliers per layer group, bottom (index 0) to top (index ``n_layers - 1``).

    The top group gets 1.0 and the group ``l`` steps below it ``decay**l``; ``decay = 1`` turns
    discriminative rates off.
    """
    if n_layers < 0:
        raise SettingsError(f"n_layers must be >= 0, got {n_layers}")
    _check_decay(decay)
    return [decay ** (n_layers - 1 - i) for i in range(n_layers)]


def discriminative_groups(
    groups: Sequence[Sequence[nn.Parameter]], lr: float, decay: float = 1.0 / 2.6
) -> list[dict[str, Any]]:
    """Optimizer parameter groups with learning rate ``lr * decay**(depth from the top)``.

    Each dict has ``params``, ``lr`` and ``layer`` (the group index, 0 = bottom). Parameters that
    appear in several groups are kept in the first (lowest) one only.
    """
    if lr <= 0:
        raise SettingsError(f"lr must be > 0, got lr={lr}")
    scales = discriminative_scales(len(groups), decay)
    seen: set[int] = set()
    out = []
    for index, params in enumerate(groups):
        unique = [p for p in params if id(p) not in seen]
        seen.update(id(p) for p in unique)
        if unique:
            out.append({"params": unique, "lr": lr * scales[index], "layer": index})
    return out


class ScaledAdam(torch.optim.Adam):
    """Adam whose parameter groups each carry an ``lr_scale`` multiplier on top of the shared rate.

    SB3 sets ``group["lr"]`` of every group to the schedule's value before each update; this optimizer
    uses ``group["lr"] * group["lr_scale"]`` for the step and restores ``group["lr"]`` afterwards, so the
    rate SB3 logs stays the schedule's.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, **kwargs):
        super().__init__(params, lr=lr, **kwargs)
        for group in self.param_groups:
            group.setdefault("lr_scale", 1.0)

    def step(self, closure=None):  # type: ignore[override]
        base = [group["lr"] for group in self.param_groups]
        for group in self.param_groups:
            group["lr"] = group["lr"] * group.get("lr_scale", 1.0)
        try:
            return super().step(closure)
        finally:
            for group, lr in zip(self.param_groups, base):
                group["lr"] = lr


# --------------------------------------------------------------------------- gradual unfreezing
def unfreeze_top(
    groups: Sequence[Sequence[nn.Parameter]], k: int, *, clear_frozen_grads: bool = False
) -> None:
    """Let only the top ``k`` groups train (``requires_grad``); ``k >= len(groups)`` unfreezes all.

    With ``clear_frozen_grads`` the frozen parameters also drop their ``.grad`` (so an optimizer step
    cannot move them with a stale gradient).
    """
    if k < 0:
        raise SettingsError(f"k must be >= 0, got {k}")
    first_trainable = max(len(groups) - k, 0)
    trainable = {id(p) for params in groups[first_trainable:] for p in params}
    for params in groups:
        for p in params:
            p.requires_grad_(id(p) in trainable)
            if clear_frozen_grads and id(p) not in trainable:
                p.grad = None


def unfrozen_groups(step: int, n_groups: int, every: int, start: int = 1) -> int:
    """Gradual unfreezing: how many top groups train at ``step`` (0-based steps, epochs or rollouts).

    ``start`` groups at first, one more every ``every`` steps, at most ``n_groups``.
    """
    return min(start + step // max(every, 1), n_groups)


# --------------------------------------------------------------------------- slanted triangular LR
def _stlr_position(t: float, cut: float, span: float) -> float:
    """Where ``t`` sits on the triangle: rises 0 → 1 until ``cut``, then falls by ``1 / span`` per unit."""
    return t / cut if t < cut else 1.0 - (t - cut) / span


def slanted_triangular(step: int, total_steps: int, cut_frac: float = 0.1, ratio: float = 32.0) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based) of ``total_steps``.

    Rises linearly from ``1/ratio`` to 1 over the first ``cut_frac`` of the steps, then falls linearly
    back to ``1/ratio`` at the last step.
    """
    if total_steps < 1 or not 0.0 < cut_frac < 1.0 or ratio < 1.0:
        raise SettingsError(
            f"bad STLR settings total_steps={total_steps}, cut_frac={cut_frac}, ratio={ratio}"
        )
    cut = max(int(total_steps * cut_frac), 1)
    t = min(max(step, 0), total_steps)
    p = _stlr_position(t, cut, max(cut * (1.0 / cut_frac - 1.0), 1.0))
    return (1.0 + max(p, 0.0) * (ratio - 1.0)) / ratio


@dataclass(frozen=True)
class SlantedTriangular:
    """Slanted triangular learning rate (ULMFiT, eq. 3) as an SB3 schedule.

    Attributes:
        peak: the highest learning rate, reached at fraction ``cut_frac`` of training.
        cut_frac: fraction of the training during which the rate rises (0 < cut_frac < 1).
        ratio: how much smaller the lowest rate is than the peak (``>= 1``).

    Calling it with SB3's ``progress_remaining`` (1 → 0) returns the learning rate for that point.
    """

    peak: float
    cut_frac: float = 0.1
    ratio: float = 32.0

    def __post_init__(self) -> None:
        if not self.peak > 0:
            raise SettingsError(f"slanted triangular peak learning rate must be > 0, got {self.peak}")
        if not 0.0 < self.cut_frac < 1.0:
            raise SettingsError(f"slanted triangular cut_frac must be in (0, 1), got {self.cut_frac}")
        if not self.ratio >= 1.0:
            raise SettingsError(f"slanted triangular ratio must be >= 1, got {self.ratio}")

    def __call__(self, progress_remaining: float) -> float:
        t = min(max(1.0 - float(progress_remaining), 0.0), 1.0)
        p = _stlr_position(t, self.cut_frac, self.cut_frac * (1.0 / self.cut_frac - 1.0))
        return self.peak * (1.0 + p * (self.ratio - 1.0)) / self.ratio


@dataclass(frozen=True)
class constant_schedule:  # noqa: N801 - reads like SB3's own constant schedules
    """A constant learning rate as a picklable SB3 schedule."""

    value: float

    def __call__(self, progress_remaining: float) -> float:
        return self.value


# --------------------------------------------------------------------------- layer groups
def bert_layer_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """Layer groups of a transformers BERT-family model (with or without a task head), bottom-up.

    Embeddings, each encoder layer, then everything else (pooler, classifier, MLM head).
    """
    base = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if embeddings is None or layers is None:
        raise SettingsError(
            f"{type(model).__name__} is not a BERT-family model (no embeddings/encoder.layer)"
        )
    groups = [list(embeddings.parameters())] + [list(layer.parameters()) for layer in layers]
    grouped = {id(p) for params in groups for p in params}
    groups.append([p for p in model.parameters() if id(p) not in grouped])
    return groups
