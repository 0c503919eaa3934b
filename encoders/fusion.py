"""Fusion of the alpha encoding and the document vector into one feature vector.

=================  ===================================================================================
``kind``           features
=================  ===================================================================================
``concat``         MLP of ``[alpha summary, document]`` (LayerNorm, Linear, GELU, Linear)
``cross_attention`` the alpha is the query: each alpha token state (projected) attends, multi-head,
                   over the document expanded into ``doc_slots`` key/value vectors; the features are
                   an MLP of the masked mean over tokens of ``[attended, query]``
``gated``          ``g * A(alpha summary) + (1 - g) * D(document)`` with ``g = sigmoid(W [alpha, doc])``
                   elementwise, then an MLP; ``g`` says how much the news matters at this state
=================  ===================================================================================

The alpha side is either pooled, shape ``(B, alpha_dim)``, or a sequence of token states
``(B, L, alpha_dim)`` with a mask ``(B, L)`` (True = real token). The "alpha summary" of a sequence is the
masked mean over its real tokens; cross-attention computes one output per alpha token (the queries) and
averages them over the real tokens, so padding positions never change the features and get no gradient.
A row whose mask is all False gets a zero summary (cross-attention: a zero mean) rather than NaN. The
document is one vector, so cross-attention first expands it into ``doc_slots`` (default 4) learned
key/value slots: over one key the softmax would be 1 whatever the query, and the alpha would not choose.

Example:
    >>> fusion = Fusion("gated", alpha_dim=128, doc_dim=384, out_dim=64)
    >>> features = fusion(encoding.sequence, documents, encoding.mask)    # (B, 64)
"""

from __future__ import annotations

import torch
from torch import nn

from alpha_env.errors import SettingsError
from encoders.config import check_positive
from encoders.settings import FUSION_KINDS

__all__ = ["Fusion", "masked_mean"]



def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``states`` (B, L, D) over positions where ``mask`` (B, L) is True; zeros for empty rows."""
    weights = mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def _mlp(in_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(in_dim),
        nn.Linear(in_dim, out_dim),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(out_dim, out_dim),
    )


class Fusion(nn.Module):
    """Combine an alpha encoding and a document vector into ``(B, out_dim)`` features (see module table).

    Args:
        kind: ``"concat"``, ``"cross_attention"`` or ``"gated"``.
        alpha_dim: width of the alpha states (pooled or per token).
        doc_dim: width of the document vector.
        out_dim: width of the output features.
        num_heads: attention heads of ``cross_attention`` (``out_dim`` must be a multiple).
        dropout: dropout inside the MLP and the attention.
        doc_slots: key/value slots the document is expanded into (``cross_attention``).
    """

    def __init__(
        self,
        kind: str,
        alpha_dim: int,
        doc_dim: int,
        out_dim: int,
        *,
        num_heads: int = 4,
        dropout: float = 0.0,
        doc_slots: int = 4,
    ):
        super().__init__()
        if kind not in FUSION_KINDS:
            raise SettingsError(f"unknown fusion kind {kind!r}; choose one of {FUSION_KINDS}")
        check_positive("Fusion", alpha_dim=alpha_dim, doc_dim=doc_dim, out_dim=out_dim, num_heads=num_heads,
                       doc_slots=doc_slots)
        self.kind = kind
        self.alpha_dim = alpha_dim
        self.doc_dim = doc_dim
        self.out_dim = out_dim
        if kind == "concat":
            self.head = _mlp(alpha_dim + doc_dim, out_dim, dropout)
        elif kind == "cross_attention":
            if out_dim % num_heads:
                raise SettingsError(f"Fusion: out_dim {out_dim} is not a multiple of num_heads {num_heads}")
            self.doc_slots = doc_slots
            self.query = nn.Linear(alpha_dim, out_dim)
            self.key_value = nn.Linear(doc_dim, doc_slots * out_dim)
            self.slot_norm = nn.LayerNorm(out_dim)
            self.attention = nn.MultiheadAttention(out_dim, num_heads, dropout=dropout, batch_first=True)
            self.head = _mlp(2 * out_dim, out_dim, dropout)
        else:
            self.alpha_proj = nn.Linear(alpha_dim, out_dim)
            self.doc_proj = nn.Linear(doc_dim, out_dim)
            self.gate = nn.Linear(alpha_dim + doc_dim, out_dim)
            self.head = _mlp(out_dim, out_dim, dropout)

    def _as_sequence(
        self, alpha: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if alpha.dim() == 2:
            alpha = alpha.unsqueeze(1)
            if mask is None:
                mask = torch.ones(alpha.shape[:2], dtype=torch.bool, device=alpha.device)
        elif alpha.dim() != 3:
            raise SettingsError(
                f"Fusion: alpha must be (B, {self.alpha_dim}) or (B, L, {self.alpha_dim}), "
                f"got {tuple(alpha.shape)}"
            )
        if mask is None:
            mask = torch.ones(alpha.shape[:2], dtype=torch.bool, device=alpha.device)
        if mask.shape != alpha.shape[:2]:
            raise SettingsError(
                f"Fusion: mask shape {tuple(mask.shape)} does not match alpha {tuple(alpha.shape)}"
            )
        if alpha.shape[-1] != self.alpha_dim:
            raise SettingsError(f"Fusion: alpha width {alpha.shape[-1]} != alpha_dim {self.alpha_dim}")
        return alpha, mask.bool()

    def forward(
        self, alpha: torch.Tensor, doc: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Features ``(B, out_dim)`` of ``alpha`` ((B, A) or (B, L, A) + ``mask`` (B, L)), ``doc`` (B, D)."""
        seq, mask = self._as_sequence(alpha, mask)
        if doc.dim() != 2 or doc.shape != (seq.shape[0], self.doc_dim):
            raise SettingsError(
                f"Fusion: doc must be ({seq.shape[0]}, {self.doc_dim}), got {tuple(doc.shape)}"
            )
        doc = doc.to(seq.dtype)
        if self.kind == "cross_attention":
            # alpha tokens are the queries; the document's slots are the keys and values
            query = self.query(seq)
            slots = self.slot_norm(self.key_value(doc).view(doc.shape[0], self.doc_slots, self.out_dim))
            attended, _ = self.attention(query, slots, slots, need_weights=False)
            return self.head(masked_mean(torch.cat([attended, query], dim=-1), mask))
        summary = masked_mean(seq, mask)
        if self.kind == "concat":
            return self.head(torch.cat([summary, doc], dim=-1))
        gate = torch.sigmoid(self.gate(torch.cat([summary, doc], dim=-1)))
        return self.head(gate * self.alpha_proj(summary) + (1.0 - gate) * self.doc_proj(doc))
