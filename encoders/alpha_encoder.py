"""AlphaEncoder: a small BERT over codebook ids, with a [CLS]-style pooled output and an MLM head.

The encoder reads an alpha expression as the codebook ids the agent writes (postfix order), right-padded
with ``PAD = 0``. It prepends the codebook's ``BOS`` token, which plays BERT's [CLS]: the pooled output
is the (dense + tanh) state of that position. The attention mask comes from PAD, so padding never
changes any real position's state. For masked-token pretraining the embedding table has one extra row,
the ``[MASK]`` id ``vocab_size`` (outside the codebook, so no real token shares it).

Default size (TinyBERT-like, small enough to train on 2 CPU cores): hidden 128, 4 layers, 4 heads,
feed-forward 512: 0.86 M parameters for the default 173-token codebook.

Example:
    >>> enc = AlphaEncoder(AlphaEncoderConfig.from_codebook(codebook), seed=0)
    >>> out = enc(torch.tensor([codebook.encode(expr)]))
    >>> out.pooled.shape, out.sequence.shape   # (1, 128), (1, 1 + len(ids), 128)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertModel

from alpha_env.errors import SettingsError
from encoders.config import CodebookLike, check_positive, codebook_fields, seeded

__all__ = ["AlphaEncoderConfig", "AlphaEncoder", "AlphaEncoding", "add_bos", "prepare_ids"]


@dataclass(frozen=True)
class AlphaEncoderConfig:
    """Configuration of :class:`AlphaEncoder`.

    Attributes:
        vocab_size: number of codebook ids (``len(codebook)``); the [MASK] id is ``vocab_size``.
        codebook_version: version of the codebook the ids come from (checked when loading checkpoints).
        pad_id, bos_id, end_id: special ids of the codebook (PAD must be 0).
        max_len: longest expression in tokens, BOS excluded.
        hidden_size, num_layers, num_heads, intermediate_size: transformer size.
        dropout: dropout of hidden states and attention probabilities.
    """

    vocab_size: int
    codebook_version: str
    pad_id: int = 0
    bos_id: int = 1
    end_id: int = 2
    max_len: int = 64
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    dropout: float = 0.1

    def __post_init__(self) -> None:
        check_positive(
            "AlphaEncoderConfig",
            vocab_size=self.vocab_size,
            max_len=self.max_len,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
        )
        if self.pad_id != 0:
            raise SettingsError(f"AlphaEncoderConfig: pad_id must be 0, got {self.pad_id}")
        if self.hidden_size % self.num_heads:
            raise SettingsError(
                f"AlphaEncoderConfig: hidden_size {self.hidden_size} is not a multiple of "
                f"num_heads {self.num_heads}"
            )
        for name in ("bos_id", "end_id"):
            if not 0 < getattr(self, name) < self.vocab_size:
                raise SettingsError(
                    f"AlphaEncoderConfig: {name} {getattr(self, name)} outside 1..vocab_size-1"
                )
        if not 0.0 <= self.dropout < 1.0:
            raise SettingsError(f"AlphaEncoderConfig: dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_codebook(cls, codebook: CodebookLike, **overrides: Any) -> AlphaEncoderConfig:
        """A config bound to ``codebook`` (vocab size, version, special ids); ``overrides`` set the rest."""
        return cls(**{**codebook_fields(codebook), **overrides})

    @property
    def mask_id(self) -> int:
        """Id of the [MASK] token used in pretraining (one past the codebook)."""
        return self.vocab_size

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (what checkpoints store)."""
        return asdict(self)


@dataclass
class AlphaEncoding:
    """Output of :class:`AlphaEncoder`.

    Attributes:
        sequence: token states ``(B, 1 + L, H)``, position 0 is BOS.
        mask: ``(B, 1 + L)`` bool, True at real tokens (BOS included), False at PAD.
        pooled: ``(B, H)`` [CLS]-style summary (dense + tanh of the BOS state).
    """

    sequence: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor


def add_bos(ids: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Prepend a BOS column to ``ids`` (B, L) unless every row already starts with BOS.

    Raises:
        SettingsError: when some rows start with BOS and others do not.
    """
    if ids.dim() != 2:
        raise SettingsError(f"ids must have shape (batch, length), got {tuple(ids.shape)}")
    if ids.shape[1] > 0:
        first = ids[:, 0] == bos_id
        if bool(first.all()):
            return ids
        if bool(first.any()):
            rows = first.nonzero().flatten().tolist()[:5]
            raise SettingsError(f"some rows of ids start with BOS ({rows}...) and others do not")
    bos = torch.full((ids.shape[0], 1), bos_id, dtype=ids.dtype, device=ids.device)
    return torch.cat([bos, ids], dim=1)


def prepare_ids(ids: torch.Tensor, config: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch, L)`` token ids of partial expressions → ``(BOS + ids, attention mask)``, both
    ``(batch, L + 1)``; the one check of an alpha encoder's input (stack and tree encoders alike).

    Raises:
        SettingsError: longer than ``config.max_len`` or an id outside the codebook.
    """
    ids = add_bos(ids.long(), config.bos_id)
    if ids.shape[1] > config.max_len + 1:
        raise SettingsError(f"ids of length {ids.shape[1] - 1} exceed this encoder's max_len "
                            f"{config.max_len}")
    bad = (ids < 0) | (ids > config.mask_id)
    if bool(bad.any()):
        value = int(ids[bad][0])
        raise SettingsError(f"token id {value} outside the codebook (0..{config.vocab_size - 1})")
    return ids, ids != config.pad_id


class AlphaEncoder(nn.Module):
    """Transformer encoder (transformers ``BertModel``) over codebook ids.

    Args:
        config: the :class:`AlphaEncoderConfig`.
        seed: seed of the weight initialization (the caller's RNG state is left untouched); ``None``
            draws from torch's global RNG.
    """

    kind = "alpha_encoder"

    def __init__(self, config: AlphaEncoderConfig, *, seed: int | None = None):
        super().__init__()
        self.config = config
        bert_config = BertConfig(
            vocab_size=config.vocab_size + 1,  # + [MASK]
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads,
            intermediate_size=config.intermediate_size,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
            max_position_embeddings=config.max_len + 1,
            type_vocab_size=1,
            pad_token_id=config.pad_id,
        )
        with seeded(seed):
            self.bert = BertModel(bert_config, add_pooling_layer=True)
            self.mlm_transform = nn.Sequential(
                nn.Linear(config.hidden_size, config.hidden_size),
                nn.GELU(),
                nn.LayerNorm(config.hidden_size, eps=1e-12),
            )
            self.mlm_bias = nn.Parameter(torch.zeros(config.vocab_size))

    @property
    def hidden_size(self) -> int:
        """Width of the token states and of the pooled vector."""
        return self.config.hidden_size

    def _prepare(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return prepare_ids(ids, self.config)

    def forward(self, ids: torch.Tensor) -> AlphaEncoding:
        """Encode ``ids`` (B, L) long, right-padded with PAD, with or without a leading BOS.

        Returns:
            :class:`AlphaEncoding` with ``sequence (B, 1+L, H)``, ``mask (B, 1+L)`` and ``pooled (B, H)``.
        """
        ids, mask = self._prepare(ids)
        out = self.bert(input_ids=ids, attention_mask=mask.long())
        return AlphaEncoding(sequence=out.last_hidden_state, mask=mask, pooled=out.pooler_output)

    @property
    def output_norm(self) -> nn.LayerNorm:
        """The LayerNorm that produces the token states (bounds of their components)."""
        return self.bert.encoder.layer[-1].output.LayerNorm

    def mlm_logits(self, ids: torch.Tensor, structure: torch.Tensor | None = None) -> torch.Tensor:
        """Masked-token prediction logits ``(B, 1+L, vocab_size)`` (output matrix tied to the embeddings).

        ``structure`` (the unmasked ids) is accepted for the call API shared with
        :class:`~encoders.AlphaTreeEncoder` and unused: the transformer reads no tree links.
        """
        ids, mask = self._prepare(ids)
        hidden = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        weight = self.bert.embeddings.word_embeddings.weight[: self.config.vocab_size]
        return self.mlm_transform(hidden) @ weight.T + self.mlm_bias

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters bottom-up for discriminative LRs: embeddings, each layer, pooler + MLM head."""
        groups = [list(self.bert.embeddings.parameters())]
        groups += [list(layer.parameters()) for layer in self.bert.encoder.layer]
        top = list(self.mlm_transform.parameters()) + [self.mlm_bias]
        if self.bert.pooler is not None:
            top = list(self.bert.pooler.parameters()) + top
        groups.append(top)
        return groups
