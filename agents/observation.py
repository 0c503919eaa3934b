"""Read an AlphaStackEnv observation batch (as SB3 hands it to a policy) into decoder inputs.

SB3 gives the policy a dict of tensors, batch first: during rollouts in the observation space's dtypes,
from the rollout buffer in the same dtypes. :func:`read_observation` turns it into what the decoder needs:

========== ================= ======================================================================
name       shape / dtype     meaning
========== ================= ======================================================================
ids        (B, L+1) int64    ``BOS`` followed by the tokens written so far, right-padded with PAD = 0
position   (B,) int64        number of tokens written so far; the next token is predicted at ``position``
mask       (B, V) bool       the grammar's action mask (True = allowed)
document   (B, D) float32    the document vector (zeros without documents; ``D = 0`` when absent)
========== ================= ======================================================================

The position is recomputed from the tokens (PAD is 0 and no real token is 0, tokens are right-padded), so
the policy does not depend on the optional ``position`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DecoderInputs", "read_observation"]


@dataclass(frozen=True)
class DecoderInputs:
    """Decoder inputs of one observation batch (see the module table)."""

    ids: torch.Tensor
    position: torch.Tensor
    mask: torch.Tensor
    document: torch.Tensor


def read_observation(obs: dict[str, torch.Tensor], bos_id: int) -> DecoderInputs:
    """Convert an SB3 observation batch into :class:`DecoderInputs`.

    Args:
        obs: dict with ``tokens`` ``(B, L)`` (any numeric dtype, PAD = 0, right-padded), ``action_mask``
            ``(B, V)`` (bool or 0/1) and optionally ``document`` ``(B, D)``.
        bos_id: the codebook's BOS id, prepended to every sequence.
    """
    tokens = obs["tokens"]
    if tokens.dim() == 1:
        tokens = tokens.unsqueeze(0)
    tokens = torch.round(tokens.float()).long() if tokens.is_floating_point() else tokens.long()
    batch = tokens.shape[0]
    bos = torch.full((batch, 1), int(bos_id), dtype=torch.long, device=tokens.device)
    ids = torch.cat([bos, tokens], dim=1)
    position = (tokens != 0).sum(dim=1)
    mask = obs["action_mask"]
    if mask.dim() == 1:
        mask = mask.unsqueeze(0)
    mask = mask > 0.5 if mask.is_floating_point() else mask.bool()
    document = obs.get("document")
    if document is None:
        document = torch.zeros((batch, 0), dtype=torch.float32, device=tokens.device)
    else:
        document = document.float().reshape(batch, -1)
    return DecoderInputs(ids=ids, position=position, mask=mask, document=document)
