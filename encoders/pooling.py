"""Pooling of a transformer's token states into one vector per text."""

from __future__ import annotations

import torch

__all__ = ["POOLINGS", "pool"]

POOLINGS = ("cls", "mean")
"""``cls``: the state of the first token ([CLS]); ``mean``: the mean over real (non-padding) tokens."""


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Pool token states ``hidden`` (B, L, H) with ``attention_mask`` (B, L) (1 = real token) into (B, H).

    Padding positions never contribute: ``mean`` divides by the number of real tokens of each row.
    """
    if kind == "cls":
        return hidden[:, 0]
    if kind == "mean":
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
    raise ValueError(f"unknown pooling {kind!r}; choose one of {POOLINGS}")
