"""Stage-2 fine-tuning schedules: slanted triangular learning rates and discriminative learning rates.

ULMFiT (Howard & Ruder, 2018) and FinBERT (Araci, 2019) fine-tune a pretrained language model with three
habits, all of which apply to a pretrained decoder fine-tuned by PPO:

* **slanted triangular learning rate** (:class:`SlantedTriangular`): a short linear warm-up to the peak
  rate, then a long linear decay to ``peak / ratio``. It is an SB3 *schedule*: a callable of
  ``progress_remaining`` (1.0 at the start of training, 0.0 at the end) returning the learning rate.
* **discriminative learning rates** (:func:`discriminative_scales`): the top decoder layer learns at the
  base rate and each layer below at ``decay`` times the rate of the layer above, so general low-level
  knowledge from pretraining moves least.
* **gradual unfreezing**: see :class:`agents.callbacks.GradualUnfreezeCallback`.

SB3 writes one learning rate into every parameter group of the optimizer before each update, which would
erase per-layer rates; :class:`ScaledAdam` therefore multiplies each group's rate by the group's
``lr_scale`` entry at every step, so the schedule and the per-layer scales compose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from alpha_env.errors import SettingsError

__all__ = ["SlantedTriangular", "ScaledAdam", "discriminative_scales", "constant_schedule"]


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
        if t < self.cut_frac:
            p = t / self.cut_frac
        else:
            p = 1.0 - (t - self.cut_frac) / (self.cut_frac * (1.0 / self.cut_frac - 1.0))
        return self.peak * (1.0 + p * (self.ratio - 1.0)) / self.ratio


@dataclass(frozen=True)
class constant_schedule:  # noqa: N801 - reads like SB3's own constant schedules
    """A constant learning rate as a picklable SB3 schedule."""

    value: float

    def __call__(self, progress_remaining: float) -> float:
        return self.value


def discriminative_scales(n_layers: int, decay: float) -> list[float]:
    """Learning-rate multipliers per decoder layer, bottom (index 0) to top (index ``n_layers - 1``).

    The top layer gets 1.0 and each layer below ``decay`` times the one above (ULMFiT uses 1/2.6).
    ``decay = 1`` turns discriminative rates off.
    """
    if n_layers < 0:
        raise SettingsError(f"n_layers must be >= 0, got {n_layers}")
    if not 0.0 < decay <= 1.0:
        raise SettingsError(f"discriminative learning-rate decay must be in (0, 1], got {decay}")
    return [decay ** (n_layers - 1 - i) for i in range(n_layers)]


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
