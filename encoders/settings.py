"""Settings of the neural models, torch-free: parsing them (every experiment's ``--help``) imports no torch.

* :data:`FUSION_KINDS` — how the alpha encoding meets the document (:class:`encoders.Fusion`);
* :class:`DocFinetuneSettings` — end-to-end fine-tuning of the document encoder
  (:mod:`encoders.doc_finetune`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from alpha_env.errors import SettingsError

__all__ = ["FUSION_KINDS", "DocFinetuneSettings"]

FUSION_KINDS = ("concat", "cross_attention", "gated")
"""Fusions of the alpha encoding with the document vector (:class:`encoders.Fusion`)."""


@dataclass(frozen=True)
class DocFinetuneSettings:
    """Fine-tuning of the document encoder during the hindsight stage and PPO (``--finetune-doc-encoder``).

    Attributes:
        doc_model: the document encoder (None: the bundled all-MiniLM-L6-v2; a folder or a local Hub name,
            e.g. a FinBERT folder); its width must be the environment's document width.
        top_layers: layer groups, counted from the top (pooler/head, last layer, ...), that may train.
        unfreeze_every: optimizer updates between unfreezing one more group (gradual unfreezing).
        layer_lr_decay: discriminative rates: each group below the top learns at this multiple of the one
            above (in (0, 1]).
        lr_scale: the top group's learning rate as a multiple of the policy's.
        max_texts: texts embedded per news window (the latest ones).
        max_length: tokens per text.
    """

    doc_model: str | None = None
    top_layers: int = 2
    unfreeze_every: int = 4
    layer_lr_decay: float = 1 / 2.6
    lr_scale: float = 0.1
    max_texts: int = 8
    max_length: int = 64

    def __post_init__(self) -> None:
        for name in ("top_layers", "unfreeze_every", "max_texts", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(f"doc fine-tuning {name} must be an integer >= 1, got {value!r}")
        if not 0.0 < self.layer_lr_decay <= 1.0:
            raise SettingsError(
                f"doc fine-tuning layer_lr_decay must be in (0, 1], got {self.layer_lr_decay}")
        if not (math.isfinite(self.lr_scale) and self.lr_scale > 0):
            raise SettingsError(f"doc fine-tuning lr_scale must be > 0, got {self.lr_scale}")

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return asdict(self)
