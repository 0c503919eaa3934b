"""Fine-tuning strategies of ULMFiT / FinBERT: discriminative learning rates, gradual unfreezing, STLR.

All three work on "layer groups": lists of parameters ordered bottom-up (embeddings first, output head
last), as returned by ``AlphaDecoder.layer_groups()``, ``AlphaEncoder.layer_groups()`` or
:func:`bert_layer_groups` for a transformers BERT model.

=======================  ========================================================================
function                 what it does
=======================  ========================================================================
``discriminative_groups``  optimizer parameter groups; the top group gets ``lr``, each group below
                         ``decay`` times less (ULMFiT: 2.6; FinBERT: 0.85 per layer = 1/1.18)
``unfreeze_top``         only the top ``k`` groups train (gradual unfreezing: k = 1, 2, ... per epoch)
``slanted_triangular``   learning-rate multiplier: linear rise for ``cut_frac`` of the steps, then a
                         linear fall to ``1 / ratio`` (Howard & Ruder 2018, eq. 3)
=======================  ========================================================================

Example:
    >>> groups = decoder.layer_groups()
    >>> optimizer = torch.optim.AdamW(discriminative_groups(groups, lr=3e-4, decay=2.6))
    >>> schedule = torch.optim.lr_scheduler.LambdaLR(
    ...     optimizer, lambda step: slanted_triangular(step, total_steps=1000))
    >>> unfreeze_top(groups, 1)       # epoch 1: head only; then 2, 3, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from alpha_env.errors import SettingsError

__all__ = ["discriminative_groups", "unfreeze_top", "slanted_triangular", "bert_layer_groups"]


def discriminative_groups(
    groups: Sequence[Sequence[nn.Parameter]], lr: float, decay: float = 2.6
) -> list[dict[str, Any]]:
    """Optimizer parameter groups with learning rate ``lr / decay**(depth from the top)``.

    Each dict has ``params``, ``lr`` and ``layer`` (the group index, 0 = bottom). Parameters that
    appear in several groups are kept in the first (lowest) one only.
    """
    if lr <= 0 or decay <= 0:
        raise SettingsError(f"lr and decay must be > 0, got lr={lr}, decay={decay}")
    seen: set[int] = set()
    out = []
    top = len(groups) - 1
    for index, params in enumerate(groups):
        unique = [p for p in params if id(p) not in seen]
        seen.update(id(p) for p in unique)
        if unique:
            out.append({"params": unique, "lr": lr / decay ** (top - index), "layer": index})
    return out


def unfreeze_top(groups: Sequence[Sequence[nn.Parameter]], k: int) -> None:
    """Let only the top ``k`` groups train (``requires_grad``); ``k >= len(groups)`` unfreezes all."""
    if k < 0:
        raise SettingsError(f"k must be >= 0, got {k}")
    first_trainable = max(len(groups) - k, 0)
    trainable = {id(p) for params in groups[first_trainable:] for p in params}
    for params in groups:
        for p in params:
            p.requires_grad_(id(p) in trainable)


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
    p = t / cut if t < cut else 1.0 - (t - cut) / max(cut * (1.0 / cut_frac - 1.0), 1.0)
    return (1.0 + max(p, 0.0) * (ratio - 1.0)) / ratio


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
