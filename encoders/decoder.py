"""AlphaDecoder: a small causal transformer that writes alpha expressions token by token.

Self-attention reads the tokens written so far (causal mask); cross-attention reads a memory built by
:meth:`AlphaDecoder.memory` from the document vector (expanded into ``doc_slots`` memory tokens) and,
when configured, the AlphaEncoder's token states. The memory always holds one learned "null" token, so
the decoder runs unconditioned (``memory=None``) and can learn to ignore uninformative news.

Sequences: the decoder's input is ``[BOS, t1, ..., tk]`` and it predicts ``[t1, ..., tk, END]``
(teacher forcing). The reinforcement-learning policy calls :meth:`AlphaDecoder.next_token` on the
environment's observation: the tokens written so far **without** BOS, right-padded with ``PAD = 0`` to
``(B, max_len)``, plus their lengths.

Default size (trains on 2 CPU cores): d_model 128, 3 layers, 4 heads, feed-forward 256: 0.65 M
parameters for the default 173-token codebook, 0.84 M with a 384-wide document input.

Example:
    >>> dec = AlphaDecoder(AlphaDecoderConfig.from_codebook(codebook, doc_dim=384), seed=0)
    >>> memory = dec.memory(doc=torch.from_numpy(doc_vectors))            # (B, 1 + 4, 128)
    >>> logits, hidden = dec.next_token(prefix, lengths, memory)           # (B, V), (B, 128)
    >>> ids = dec.generate(8, codebook, max_len=20, generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from alpha_env.errors import SettingsError
from encoders.config import CodebookLike, check_positive, codebook_fields, seeded
from encoders.errors import CodebookMismatchError

__all__ = ["AlphaDecoderConfig", "AlphaDecoder", "DecoderMemory", "bit_rows", "prefix_chains"]


@dataclass(frozen=True)
class AlphaDecoderConfig:
    """Configuration of :class:`AlphaDecoder`.

    Attributes:
        vocab_size: number of codebook ids (``len(codebook)``).
        codebook_version: version of the codebook (checked when loading checkpoints and generating).
        pad_id, bos_id, end_id: special ids of the codebook (PAD must be 0).
        max_len: longest expression in tokens, BOS and END excluded (positions ``0..max_len``).
        d_model, num_layers, num_heads, ff_size: transformer size.
        dropout: dropout in the layers.
        doc_dim: width of the document vector (0: the decoder takes no document).
        alpha_dim: width of AlphaEncoder states used as extra memory (0: none).
        doc_slots: memory tokens the document vector is expanded into.
    """

    vocab_size: int
    codebook_version: str
    pad_id: int = 0
    bos_id: int = 1
    end_id: int = 2
    max_len: int = 32
    d_model: int = 128
    num_layers: int = 3
    num_heads: int = 4
    ff_size: int = 256
    dropout: float = 0.1
    doc_dim: int = 0
    alpha_dim: int = 0
    doc_slots: int = 4

    def __post_init__(self) -> None:
        check_positive(
            "AlphaDecoderConfig",
            vocab_size=self.vocab_size,
            max_len=self.max_len,
            d_model=self.d_model,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            ff_size=self.ff_size,
            doc_slots=self.doc_slots,
        )
        if self.pad_id != 0:
            raise SettingsError(f"AlphaDecoderConfig: pad_id must be 0, got {self.pad_id}")
        if self.d_model % self.num_heads:
            raise SettingsError(
                f"AlphaDecoderConfig: d_model {self.d_model} is not a multiple of num_heads {self.num_heads}"
            )
        for name in ("bos_id", "end_id"):
            if not 0 < getattr(self, name) < self.vocab_size:
                raise SettingsError(
                    f"AlphaDecoderConfig: {name} {getattr(self, name)} outside 1..vocab_size-1"
                )
        if self.doc_dim < 0 or self.alpha_dim < 0:
            raise SettingsError("AlphaDecoderConfig: doc_dim and alpha_dim must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise SettingsError(f"AlphaDecoderConfig: dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_codebook(cls, codebook: CodebookLike, **overrides: Any) -> AlphaDecoderConfig:
        """A config bound to ``codebook`` (vocab size, version, special ids); ``overrides`` set the rest."""
        return cls(**{**codebook_fields(codebook), **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (what checkpoints store)."""
        return asdict(self)


@dataclass
class DecoderMemory:
    """What the decoder's cross-attention reads.

    Attributes:
        states: ``(B, M, d_model)`` memory tokens.
        mask: ``(B, M)`` bool, True at real memory tokens (the null token is always real).
    """

    states: torch.Tensor
    mask: torch.Tensor

    @property
    def batch_size(self) -> int:
        """Rows of the memory."""
        return int(self.states.shape[0])

    def select(self, index: torch.Tensor) -> DecoderMemory:
        """The rows ``index`` (long or bool tensor)."""
        return DecoderMemory(self.states[index], self.mask[index])

    def expand(self, batch_size: int) -> DecoderMemory:
        """Broadcast a one-row memory to ``batch_size`` rows (other sizes must already match)."""
        if self.batch_size == batch_size:
            return self
        if self.batch_size != 1:
            raise SettingsError(f"memory has {self.batch_size} rows, cannot serve a batch of {batch_size}")
        return DecoderMemory(self.states.expand(batch_size, -1, -1), self.mask.expand(batch_size, -1))


def bit_rows(x: torch.Tensor) -> torch.Tensor:
    """``(B, -1)`` int64: the bit patterns of each row of a float tensor (rows equal bit for bit compare
    equal; ``-0.0`` and ``0.0`` do not)."""
    flat = x.reshape(x.shape[0], -1).contiguous()
    ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[flat.element_size()]
    return flat.view(ints).long()


def _token_keys(ids: torch.Tensor) -> list[torch.Tensor]:
    """``ids`` ``(B, W)`` (BOS column first, ids >= 0) packed into int64 keys, several tokens each, whose
    lexicographic order is that of the token rows from column 1 on."""
    width = ids.shape[1]
    bits = max(1, int(ids.max()).bit_length()) if ids.numel() else 1
    per = max(1, 63 // bits)
    keys = []
    for start in range(1, width, per):
        key = torch.zeros(ids.shape[0], dtype=torch.long, device=ids.device)
        for c in range(start, start + per):
            key = (key << bits) | (ids[:, c] if c < width else 0)
        keys.append(key)
    return keys


def prefix_chains(
    ids: torch.Tensor, lengths: torch.Tensor, groups: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a decoder batch that one causal pass can serve: each row whose written prefix is the start
    of another row's, in the same group (the same memory), is read from that row.

    The rows are put in order of their group and then of their tokens, PAD first: a prefix then sorts
    just before its extensions, and every row between them extends it too, so each *chain* of rows, each
    extending the one before, is a run of that order. A chain's last row holds every earlier row's prefix
    (the steps of one episode, or of episodes that begin alike).

    Args:
        ids: ``(B, W)`` decoder inputs ``[BOS, t1, ..., tk, PAD...]`` (PAD = 0 is no token).
        lengths: ``(B,)`` written tokens per row (row ``i``'s last real position is ``lengths[i]``).
        groups: ``(B, K)`` integer rows; rows share a pass only when theirs are equal (the memory's bits,
            :func:`bit_rows`, or the inputs it is made from). ``None``: one group (the same memory).

    Returns:
        ``(last, source)``: ``last`` ``(C,)`` the row index of each chain's last row; ``source`` ``(B,)``
        each row's chain (an index into ``last``).
    """
    batch, width = ids.shape
    order = torch.arange(batch, device=ids.device)
    for key in reversed(_token_keys(ids)):  # lexicographic order of the tokens: stable sorts, last key first
        order = order[torch.sort(key[order], stable=True).indices]
    group = None
    if groups is not None:  # then by group: each group's rows together, in token order
        group = torch.unique(groups, dim=0, return_inverse=True)[1]
        order = order[torch.sort(group[order], stable=True).indices]
    ranked = ids[order]
    within = torch.arange(width, device=ids.device)[None, :] <= lengths[order][:-1, None]
    same = ((ranked[1:] == ranked[:-1]) | ~within).all(dim=1)  # the next row extends this one
    if group is not None:
        same &= group[order][1:] == group[order][:-1]
    ends = torch.ones(batch, dtype=torch.bool, device=ids.device)
    ends[:-1] = ~same
    last = order[ends]
    source = torch.empty(batch, dtype=torch.long, device=ids.device)
    source[order] = torch.cumsum(ends.long(), dim=0) - ends.long()  # chains ended before each row
    return last, source


class AlphaDecoder(nn.Module):
    """Causal transformer over codebook ids with cross-attention to a document/alpha memory.

    Args:
        config: the :class:`AlphaDecoderConfig`.
        seed: seed of the weight initialization (the caller's RNG state is left untouched).
    """

    kind = "alpha_decoder"

    def __init__(self, config: AlphaDecoderConfig, *, seed: int | None = None):
        super().__init__()
        self.config = config
        d = config.d_model
        with seeded(seed):
            self.token_embedding = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_id)
            self.position_embedding = nn.Embedding(config.max_len + 2, d)
            self.null_memory = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            self.doc_projection = (
                nn.Sequential(nn.Linear(config.doc_dim, config.doc_slots * d)) if config.doc_dim else None
            )
            self.doc_slot_norm = nn.LayerNorm(d) if config.doc_dim else None
            self.alpha_projection = nn.Linear(config.alpha_dim, d) if config.alpha_dim else None
            self.layers = nn.ModuleList(
                nn.TransformerDecoderLayer(
                    d,
                    config.num_heads,
                    dim_feedforward=config.ff_size,
                    dropout=config.dropout,
                    activation="gelu",
                    batch_first=True,
                    norm_first=True,
                )
                for _ in range(config.num_layers)
            )
            self.final_norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, config.vocab_size)
        causal = torch.triu(torch.full((config.max_len + 2, config.max_len + 2), float("-inf")), diagonal=1)
        self.register_buffer("_causal", causal, persistent=False)

    # ------------------------------------------------------------------ memory
    def memory(
        self,
        doc: torch.Tensor | None = None,
        alpha: torch.Tensor | None = None,
        alpha_mask: torch.Tensor | None = None,
        *,
        batch_size: int | None = None,
    ) -> DecoderMemory:
        """Build the cross-attention memory: ``[null] + doc slots + alpha states``.

        Args:
            doc: document vectors ``(B, doc_dim)`` (needs ``config.doc_dim > 0``).
            alpha: AlphaEncoder token states ``(B, L, alpha_dim)`` (needs ``config.alpha_dim > 0``).
            alpha_mask: ``(B, L)`` bool for ``alpha`` (True = real token); all True when omitted.
            batch_size: rows when neither ``doc`` nor ``alpha`` is given (default 1).

        Returns:
            :class:`DecoderMemory` with ``states (B, 1 + doc_slots? + L?, d_model)``.
        """
        d = self.config.d_model
        rows = [t.shape[0] for t in (doc, alpha) if t is not None]
        if len(set(rows)) > 1:
            raise SettingsError(f"doc and alpha have different batch sizes {rows}")
        batch = rows[0] if rows else (batch_size or 1)
        device = self.null_memory.device
        parts = [self.null_memory.expand(batch, 1, d)]
        masks = [torch.ones(batch, 1, dtype=torch.bool, device=device)]
        if doc is not None:
            if self.doc_projection is None or self.doc_slot_norm is None:
                raise SettingsError("this decoder was built with doc_dim=0 and takes no document vector")
            if doc.dim() != 2 or doc.shape[1] != self.config.doc_dim:
                raise SettingsError(f"doc must be (B, {self.config.doc_dim}), got {tuple(doc.shape)}")
            slots = self.doc_projection(doc.to(device=device, dtype=self.null_memory.dtype))
            parts.append(self.doc_slot_norm(slots.view(batch, self.config.doc_slots, d)))
            masks.append(torch.ones(batch, self.config.doc_slots, dtype=torch.bool, device=device))
        if alpha is not None:
            if self.alpha_projection is None:
                raise SettingsError("this decoder was built with alpha_dim=0 and takes no alpha states")
            if alpha.dim() != 3 or alpha.shape[2] != self.config.alpha_dim:
                raise SettingsError(
                    f"alpha must be (B, L, {self.config.alpha_dim}), got {tuple(alpha.shape)}"
                )
            parts.append(self.alpha_projection(alpha.to(device)))
            if alpha_mask is None:
                alpha_mask = torch.ones(alpha.shape[:2], dtype=torch.bool, device=device)
            masks.append(alpha_mask.to(device=device, dtype=torch.bool))
        return DecoderMemory(torch.cat(parts, dim=1), torch.cat(masks, dim=1))

    # ------------------------------------------------------------------ forward
    def forward(
        self, ids: torch.Tensor, memory: DecoderMemory | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced pass.

        Args:
            ids: ``(B, L)`` long, ``L <= max_len + 1``, each row ``[BOS, t1, ..., tk, PAD...]``.
            memory: from :meth:`memory` (one row or ``B`` rows); ``None`` = the null memory only.

        Returns:
            ``logits (B, L, vocab_size)``: at position i, the scores of the token after ``ids[:, :i+1]``;
            ``hidden (B, L, d_model)``: the final (normalized) states. Position i depends only on
            positions ``<= i`` (causal), so right padding never changes the real positions.
        """
        hidden = self._states(self._checked(ids), memory)
        return self.head(hidden), hidden

    def _checked(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` as long on the decoder's device, after checking its shape, length and codebook ids."""
        if ids.dim() != 2:
            raise SettingsError(f"ids must have shape (batch, length), got {tuple(ids.shape)}")
        length = ids.shape[1]
        if length > self.config.max_len + 1:
            raise SettingsError(f"ids of length {length} exceed max_len + 1 = {self.config.max_len + 1}")
        ids = ids.to(self.token_embedding.weight.device).long()
        if bool(((ids < 0) | (ids >= self.config.vocab_size)).any()):
            bad = ids[(ids < 0) | (ids >= self.config.vocab_size)][0]
            raise SettingsError(f"token id {int(bad)} outside the codebook (0..{self.config.vocab_size - 1})")
        return ids

    def _states(self, ids: torch.Tensor, memory: DecoderMemory | None) -> torch.Tensor:
        """``(B, L, d_model)`` final (normalized) states of checked ``ids`` ``(B, L)`` on the device."""
        batch, length = ids.shape
        memory = (self.memory(batch_size=batch) if memory is None else memory).expand(batch)
        positions = torch.arange(length, device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)
        causal = self._causal[:length, :length]
        memory_padding = ~memory.mask
        for layer in self.layers:
            x = layer(
                x,
                memory.states,
                tgt_mask=causal,
                memory_key_padding_mask=memory_padding,
                tgt_is_causal=True,
            )
        return self.final_norm(x)

    def with_bos(self, prefix: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` written tokens → ``(B, L+1)`` decoder input with BOS in front."""
        bos = torch.full((prefix.shape[0], 1), self.config.bos_id, dtype=torch.long, device=prefix.device)
        return torch.cat([bos, prefix.long()], dim=1)

    def next_token(
        self,
        prefix: torch.Tensor,
        lengths: torch.Tensor | None = None,
        memory: DecoderMemory | None = None,
        *,
        share: bool = False,
        chains: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of the next token after each row's written prefix, and the state that produced them.

        Args:
            prefix: ``(B, L)`` tokens written so far, without BOS, right-padded with PAD (the
                environment's ``tokens`` observation).
            lengths: ``(B,)`` number of written tokens per row (``0..L``); ``None`` counts non-PAD tokens.
            memory: as in :meth:`forward`.
            share: compute the rows whose written prefix another row extends, under the same memory, in
                that row's causal pass (:func:`prefix_chains`: one pass per chain; a PPO minibatch holds
                several steps of most of its episodes, and episodes that begin alike). The decoder is
                causal, so a position's state does not depend on what follows it: the same outputs (bit for
                bit on CPU, where they do not depend on the batch's width either) for fewer rows; the
                gradients are the same sums taken in another order.
            chains: ``(last, source)`` of :func:`prefix_chains` for these rows, computed by the caller
                (e.g. once for a policy's decoder and its reference, grouped by the document both memories
                are made from); implies ``share``.

        Returns:
            ``logits (B, vocab_size)`` (unmasked) and ``hidden (B, d_model)``. Only the first
            ``max(lengths) + 1`` positions are computed.
        """
        if prefix.dim() != 2:
            raise SettingsError(f"prefix must have shape (batch, length), got {tuple(prefix.shape)}")
        device = self.token_embedding.weight.device
        prefix = prefix.to(device).long()
        if lengths is None:
            lengths = (prefix != self.config.pad_id).sum(dim=1)
        lengths = lengths.to(device).long()
        if bool(((lengths < 0) | (lengths > prefix.shape[1])).any()):
            raise SettingsError(f"lengths must be in 0..{prefix.shape[1]}, got {lengths.tolist()}")
        if bool((lengths >= self.config.max_len + 1).any()):
            raise SettingsError(
                f"a prefix of {int(lengths.max())} tokens exceeds max_len {self.config.max_len}"
            )
        used = int(lengths.max()) if lengths.numel() else 0
        ids = self._checked(self.with_bos(prefix[:, :used]))
        rows = torch.arange(prefix.shape[0], device=device)
        if (share or chains is not None) and prefix.shape[0] > 1:
            one = memory is None or memory.batch_size == 1  # one memory for every row
            if chains is None:
                groups = None if one else torch.cat([bit_rows(memory.states), memory.mask.long()], dim=1)
                chains = prefix_chains(ids, lengths, groups)
            last, rows = chains
            ids = ids[last]
            memory = memory if one else memory.select(last)
        hidden = self._states(ids, memory)[rows, lengths]
        return self.head(hidden), hidden

    def next_token_logits(
        self,
        prefix: torch.Tensor,
        lengths: torch.Tensor | None = None,
        memory: DecoderMemory | None = None,
    ) -> torch.Tensor:
        """``(B, vocab_size)`` logits of the next token (see :meth:`next_token`)."""
        return self.next_token(prefix, lengths, memory)[0]

    def last_hidden(
        self,
        prefix: torch.Tensor,
        lengths: torch.Tensor | None = None,
        memory: DecoderMemory | None = None,
    ) -> torch.Tensor:
        """``(B, d_model)`` state at the last written position (see :meth:`next_token`)."""
        return self.next_token(prefix, lengths, memory)[1]

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        n: int,
        codebook: Any,
        max_len: int | None = None,
        memory: DecoderMemory | None = None,
        generator: torch.Generator | None = None,
        *,
        temperature: float = 1.0,
        greedy: bool = False,
        state_factory: Callable[[Any, int], Any] | None = None,
        vocabulary: np.ndarray | None = None,
    ) -> list[list[int]]:
        """Sample ``n`` expressions, applying the grammar mask at every step.

        Each step scores the next token, sets every token that ``GrammarState.mask()`` forbids to
        ``-inf`` and samples (or takes the arg-max when ``greedy``). A row stops when it writes END or when
        the grammar allows no further token. Only valid continuations are ever written.

        Args:
            n: number of expressions.
            codebook: the :class:`alpha_env.grammar.Codebook` of this decoder (same version and size).
            max_len: token budget per expression (default and upper bound: ``config.max_len``).
            memory: one row (shared) or ``n`` rows; ``None`` = unconditioned.
            generator: torch generator of the sampling (seed it for reproducible samples).
            temperature: softmax temperature (> 0).
            greedy: take the most likely valid token instead of sampling.
            state_factory: builds the per-row grammar state as ``state_factory(codebook, max_len)``
                (default :class:`alpha_env.grammar.GrammarState`); it needs ``push(id)`` and ``mask()``.
            vocabulary: ``(vocab_size,)`` bool, the ids the decoder may write at all, ANDed with the grammar
                mask (default: ``codebook.agent_vocabulary`` when the codebook has one, else every id).
                Where the AND leaves nothing the grammar allows, the grammar mask alone is used.

        Returns:
            ``n`` lists of written token ids (END not included), in order.
        """
        if state_factory is None:
            from alpha_env.grammar import GrammarState

            state_factory = GrammarState
        self._check_codebook(codebook)
        max_len = self.config.max_len if max_len is None else int(max_len)
        if not 0 < max_len <= self.config.max_len:
            raise SettingsError(f"max_len must be in 1..{self.config.max_len}, got {max_len}")
        if temperature <= 0:
            raise SettingsError(f"temperature must be > 0, got {temperature}")
        was_training = self.training
        self.eval()
        try:
            device = self.token_embedding.weight.device
            memory = (self.memory(batch_size=1) if memory is None else memory).expand(n)
            states = [state_factory(codebook, max_len) for _ in range(n)]
            prefix = torch.zeros((n, max_len), dtype=torch.long, device=device)
            lengths = torch.zeros(n, dtype=torch.long, device=device)
            active = torch.ones(n, dtype=torch.bool, device=device)
            end_id = self.config.end_id
            if vocabulary is None:
                vocabulary = getattr(codebook, "agent_vocabulary", None)
            allowed = None if vocabulary is None else torch.from_numpy(np.array(vocabulary, dtype=bool))
            if allowed is not None and allowed.shape != (self.config.vocab_size,):
                raise SettingsError(f"vocabulary must have shape ({self.config.vocab_size},)")
            while bool(active.any()):
                rows = active.nonzero().flatten()
                masks = torch.from_numpy(np.stack([states[r].mask() for r in rows.tolist()])).to(device)
                if allowed is not None:
                    restricted = masks & allowed.to(device)
                    masks = torch.where(restricted.any(dim=1, keepdim=True), restricted, masks)
                has_move = masks.any(dim=1)
                if not bool(has_move.all()):
                    active[rows[~has_move]] = False
                    rows, masks = rows[has_move], masks[has_move]
                    if len(rows) == 0:
                        break
                logits = self.next_token_logits(prefix[rows], lengths[rows], memory.select(rows))
                logits = logits.float().masked_fill(~masks, float("-inf"))
                if greedy:
                    chosen = logits.argmax(dim=-1)
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    chosen = torch.multinomial(probs.cpu(), 1, generator=generator).flatten().to(device)
                for row, token in zip(rows.tolist(), chosen.tolist()):
                    states[row].push(token)
                    if token == end_id:
                        active[row] = False
                        continue
                    prefix[row, lengths[row]] = token
                    lengths[row] += 1
                    if int(lengths[row]) >= max_len:
                        active[row] = False
            return [prefix[i, : int(lengths[i])].tolist() for i in range(n)]
        finally:
            self.train(was_training)

    def _check_codebook(self, codebook: Any) -> None:
        if str(codebook.version) != self.config.codebook_version or len(codebook) != self.config.vocab_size:
            raise CodebookMismatchError(
                f"this decoder was built for codebook version {self.config.codebook_version!r} "
                f"({self.config.vocab_size} tokens), not {codebook.version!r} ({len(codebook)} tokens)"
            )

    # ------------------------------------------------------------------ fine-tuning support
    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters bottom-up, for discriminative learning rates and gradual unfreezing.

        Group 0: token and position embeddings and the memory builders (null token, document and alpha
        projections); groups 1..num_layers: one decoder layer each; last group: final norm and output head.
        """
        bottom = [*self.token_embedding.parameters(), *self.position_embedding.parameters(), self.null_memory]
        for module in (self.doc_projection, self.doc_slot_norm, self.alpha_projection):
            if module is not None:
                bottom += list(module.parameters())
        groups = [bottom] + [list(layer.parameters()) for layer in self.layers]
        groups.append([*self.final_norm.parameters(), *self.head.parameters()])
        return groups
