"""AlphaTreeEncoder: a node-convolutional network over the expression tree (the AlphaTree form).

The AlphaStack (postfix ids, what the agent writes) and the AlphaTree (level-order node list,
:func:`alpha_env.grammar.forms.to_tree`) describe the same tree: operator arities are fixed, so the
parent/children links follow from either list. This encoder reads the agent's postfix ids (right-padded
with PAD, BOS prepended as in :class:`~encoders.AlphaEncoder`) and recovers the links with
:func:`tree_structure`; a partial stack is a forest (one tree per stack entry) whose roots hang under BOS.

Each node's state is computed by a learned convolution over the window ``[node, child_1 .. child_K]``
(``K = max_children`` slots, missing children are zero), as a CNN aggregates neighbouring pixels:

* **bottom-up**: ``u_v = LN(e_v + GELU(W_up [e_v, u_c1, .., u_cK]))``, one layer per tree level (leaves
  first; weights shared across levels, so depth-many layers with one set of weights), so every node
  summarises its whole subtree;
* **top-down**: ``d_v = LN(u_v + GELU(W_down [u_v, d_parent, slot_v]))``, roots first, so a node also knows
  its context (the parent chain and, through it, its siblings); BOS's ``u`` and ``d`` are the mean of the
  roots' ``u``;
* **output**: ``s_v = LN(W_out [u_v, d_v])``; ``pooled = tanh(W_pool s_BOS)``.

The masked-node objective (:func:`encoders.pretrain.pretrain_alpha_encoder`, shared with the stack
encoder) hides a node's *label*, not the tree's shape: links come from the unmasked ids
(``mlm_logits(inputs, structure=original)``), so a masked operator's number of children is visible.

Example:
    >>> enc = AlphaTreeEncoder(AlphaTreeEncoderConfig.from_codebook(codebook), seed=0)
    >>> out = enc(torch.tensor([codebook.encode(expr)]))
    >>> out.pooled.shape, out.sequence.shape   # (1, 128), (1, 1 + len(ids), 128)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from alpha_env.errors import SettingsError
from encoders.alpha_encoder import AlphaEncoding, add_bos, prepare_ids
from encoders.config import CodebookLike, check_positive, codebook_fields, seeded

__all__ = [
    "AlphaTreeEncoderConfig", "AlphaTreeEncoder", "TreeStructure", "tree_structure", "codebook_arities",
]


def codebook_arities(codebook: Any) -> tuple[int, ...]:
    """Number of children of every codebook id: an operator's arity, 0 for leaves and special tokens."""
    from alpha_env.grammar.ast import OpToken
    from alpha_env.grammar.operators import OPERATORS

    return tuple(
        OPERATORS[token.name].arity if isinstance(token, OpToken) else 0 for token in codebook.tokens
    )


@dataclass(frozen=True)
class AlphaTreeEncoderConfig:
    """Configuration of :class:`AlphaTreeEncoder`.

    Attributes:
        vocab_size, codebook_version, pad_id, bos_id, end_id: codebook binding (as
            :class:`~encoders.AlphaEncoderConfig`); the [MASK] id is ``vocab_size``.
        arities: children of every codebook id (``len == vocab_size``; :func:`codebook_arities`).
        max_len: longest expression in tokens, BOS excluded.
        hidden_size: width of every node state.
        max_children: convolution window beyond the node (the largest operator arity).
        dropout: dropout on the convolution outputs.
    """

    vocab_size: int
    codebook_version: str
    arities: tuple[int, ...]
    pad_id: int = 0
    bos_id: int = 1
    end_id: int = 2
    max_len: int = 64
    hidden_size: int = 128
    max_children: int = 3
    dropout: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "arities", tuple(int(a) for a in self.arities))
        check_positive("AlphaTreeEncoderConfig", vocab_size=self.vocab_size, max_len=self.max_len,
                       hidden_size=self.hidden_size, max_children=self.max_children)
        if self.pad_id != 0:
            raise SettingsError(f"AlphaTreeEncoderConfig: pad_id must be 0, got {self.pad_id}")
        if len(self.arities) != self.vocab_size:
            raise SettingsError(
                f"AlphaTreeEncoderConfig: {len(self.arities)} arities for {self.vocab_size} codebook ids"
            )
        if min(self.arities) < 0 or max(self.arities) > self.max_children:
            raise SettingsError(
                f"AlphaTreeEncoderConfig: arities must lie in 0..max_children={self.max_children}, "
                f"got {min(self.arities)}..{max(self.arities)}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise SettingsError(f"AlphaTreeEncoderConfig: dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_codebook(cls, codebook: CodebookLike, **overrides: Any) -> AlphaTreeEncoderConfig:
        """A config bound to ``codebook`` (vocab size, version, special ids, arities)."""
        arities = codebook_arities(codebook)
        fields = {**codebook_fields(codebook), "arities": arities, "max_children": max(max(arities), 1)}
        return cls(**{**fields, **overrides})

    @property
    def mask_id(self) -> int:
        """Id of the [MASK] token used in pretraining (one past the codebook)."""
        return self.vocab_size

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (what checkpoints store; ``arities`` as a list)."""
        out = asdict(self)
        out["arities"] = list(self.arities)
        return out


@dataclass
class TreeStructure:
    """Links of a batch of postfix sequences (positions index the BOS-prefixed ids).

    Attributes:
        children: ``(B, N, K)`` long, child positions left to right, ``-1`` where none.
        parent: ``(B, N)`` long, the parent position; forest roots have parent 0 (BOS); BOS, PAD: ``-1``.
        slot: ``(B, N)`` long, the child slot of each node in its parent (``K`` for roots and BOS/PAD).
        heights: ``(B, N)`` long, height of each node's subtree (1 for a leaf; 0 for BOS and PAD).
        depths: ``(B, N)`` long, depth of each node (1 for a root; 0 for BOS and PAD).
        height: ``int``, the forest's height (1 for leaves only; 0 for an empty batch).
    """

    children: torch.Tensor
    parent: torch.Tensor
    slot: torch.Tensor
    heights: torch.Tensor
    depths: torch.Tensor
    height: int


def tree_structure(
    ids: torch.Tensor, arities: torch.Tensor, max_children: int, pad_id: int = 0
) -> TreeStructure:
    """Parse BOS-prefixed postfix ids ``(B, N)`` into a forest, vectorised over the batch.

    A token takes its arity's worth of the latest stack entries as children (fewer if the stack holds
    fewer: a malformed prefix never fails), then is pushed. PAD positions are skipped. The entries left
    on the stack are the roots (the whole tree for a finished expression).
    """
    batch, n = ids.shape
    rows = torch.arange(batch)
    stack = torch.zeros((batch, max(n, 1)), dtype=torch.long)
    depth = torch.zeros(batch, dtype=torch.long)
    children = torch.full((batch, n, max_children), -1, dtype=torch.long)
    parent = torch.full((batch, n), -1, dtype=torch.long)
    slot = torch.full((batch, n), max_children, dtype=torch.long)
    heights = torch.zeros((batch, n), dtype=torch.long)
    real = ids != pad_id
    for p in range(1, n):
        here = real[:, p]
        arity = torch.where(here, torch.minimum(arities[ids[:, p]], depth), torch.zeros_like(depth))
        tallest = torch.zeros(batch, dtype=torch.long)
        for k in range(max_children):
            has = k < arity
            if not bool(has.any()):
                break
            where = (depth - arity + k).clamp(min=0, max=stack.shape[1] - 1)
            child = stack.gather(1, where.unsqueeze(1)).squeeze(1)
            children[:, p, k] = torch.where(has, child, torch.full_like(child, -1))
            parent[rows[has], child[has]] = p
            slot[rows[has], child[has]] = k
            tallest = torch.where(has, torch.maximum(tallest, heights[rows, child]), tallest)
        heights[:, p] = torch.where(here, tallest + 1, heights[:, p])
        depth = depth - arity
        stack[rows[here], depth[here]] = p
        depth = depth + here.long()
    roots = real & (parent < 0)
    roots[:, 0] = False
    parent[roots] = 0
    depths = torch.zeros((batch, n), dtype=torch.long)
    for p in range(n - 1, 0, -1):  # a parent always comes after its children in postfix order
        above = parent[:, p]
        depths[:, p] = torch.where(above > 0, depths[rows, above.clamp(min=0)] + 1,
                                   torch.where(above == 0, 1, 0))
    height = int(heights.max()) if heights.numel() else 0
    return TreeStructure(children, parent, slot, heights, depths, height)


class AlphaTreeEncoder(nn.Module):
    """Node-convolutional encoder of the expression tree (module docstring); the call API of
    :class:`~encoders.AlphaEncoder` (``forward``, ``mlm_logits``, ``hidden_size``, ``layer_groups``).

    Args:
        config: the :class:`AlphaTreeEncoderConfig`.
        seed: seed of the weight initialization (the caller's RNG state is left untouched).
    """

    kind = "alpha_tree_encoder"

    def __init__(self, config: AlphaTreeEncoderConfig, *, seed: int | None = None):
        super().__init__()
        self.config = config
        width, k = config.hidden_size, config.max_children
        with seeded(seed):
            self.embeddings = nn.Embedding(config.vocab_size + 1, width, padding_idx=config.pad_id)
            nn.init.normal_(self.embeddings.weight, std=0.02)  # BERT's scale: the output matrix is tied
            with torch.no_grad():
                self.embeddings.weight[config.pad_id].zero_()
            self.up = nn.Linear(width * (k + 1), width)
            self.up_norm = nn.LayerNorm(width)
            self.slot_embeddings = nn.Embedding(k + 1, width)
            self.down = nn.Linear(width * 3, width)
            self.down_norm = nn.LayerNorm(width)
            self.out = nn.Linear(width * 2, width)
            self.out_norm = nn.LayerNorm(width)
            self.pooler = nn.Linear(width, width)
            self.mlm_transform = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.LayerNorm(width))
            self.mlm_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer(
            "arities", torch.tensor([*config.arities, 0], dtype=torch.long), persistent=False
        )

    @property
    def hidden_size(self) -> int:
        """Width of the node states and of the pooled vector."""
        return self.config.hidden_size

    @property
    def output_norm(self) -> nn.LayerNorm:
        """The LayerNorm that produces the node states (bounds of their components)."""
        return self.out_norm

    def _prepare(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return prepare_ids(ids, self.config)

    def _states(self, ids: torch.Tensor, structure: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Node states ``(B, 1+L, H)`` and the real-token mask; every node is convolved once per direction,
        level by level (bottom-up by height, top-down by depth), so the cost is one pass over the nodes."""
        ids, mask = self._prepare(ids)
        shape_ids = ids if structure is None else add_bos(structure.long(), self.config.bos_id)
        if shape_ids.shape != ids.shape:
            raise SettingsError(f"structure ids {tuple(shape_ids.shape)} do not match ids {tuple(ids.shape)}")
        cfg = self.config
        tree = tree_structure(shape_ids.cpu(), self.arities.cpu(), cfg.max_children, cfg.pad_id)
        batch, n = ids.shape
        width, device = cfg.hidden_size, ids.device
        sentinel = batch * n  # index of an all-zero row
        offset = (torch.arange(batch) * n).unsqueeze(1)
        children = torch.where(tree.children >= 0, tree.children + offset.unsqueeze(-1), sentinel)
        parent = torch.where(tree.parent >= 0, tree.parent + offset, sentinel).flatten()
        node = (self.embeddings(ids) * mask.unsqueeze(-1)).reshape(sentinel, width)
        zero = node.new_zeros(1, width)
        up = torch.cat([node, zero])
        for level in range(1, tree.height + 1):
            at = (tree.heights.flatten() == level).nonzero().flatten().to(device)
            kids = up[children.reshape(sentinel, -1)[at].to(device)].flatten(1)
            window = torch.cat([node[at], kids], dim=1)
            fresh = self.up_norm(node[at] + self.dropout(nn.functional.gelu(self.up(window))))
            up = up.index_copy(0, at, fresh)
        roots = (tree.parent == 0).to(device).unsqueeze(-1).float()
        up_grid = up[:sentinel].reshape(batch, n, width)
        forest = (up_grid * roots).sum(1) / roots.sum(1).clamp(min=1.0)  # (B, H): BOS's context
        bos = (torch.arange(batch) * n).to(device)
        up = up.index_copy(0, bos, forest)
        slots = self.slot_embeddings(tree.slot.to(device)).reshape(sentinel, width)
        down = up
        for level in range(1, int(tree.depths.max()) + 1 if tree.depths.numel() else 1):
            at = (tree.depths.flatten() == level).nonzero().flatten().to(device)
            above = down[parent[at].to(device)]
            window = torch.cat([up[at], above, slots[at]], dim=1)
            fresh = self.down_norm(up[at] + self.dropout(nn.functional.gelu(self.down(window))))
            down = down.index_copy(0, at, fresh)
        states = self.out_norm(self.out(torch.cat([up[:sentinel], down[:sentinel]], dim=-1)))
        return states.reshape(batch, n, width), mask

    def forward(self, ids: torch.Tensor, structure: torch.Tensor | None = None) -> AlphaEncoding:
        """Encode postfix ``ids`` (B, L), right-padded with PAD, with or without a leading BOS.

        Args:
            ids: the token ids.
            structure: ids the tree links are read from (default ``ids``): the unmasked ids in pretraining.

        Returns:
            :class:`~encoders.AlphaEncoding` with ``sequence (B, 1+L, H)`` (position 0: the forest),
            ``mask (B, 1+L)`` and ``pooled (B, H)``.
        """
        states, mask = self._states(ids, structure)
        return AlphaEncoding(sequence=states, mask=mask, pooled=torch.tanh(self.pooler(states[:, 0])))

    def mlm_logits(self, ids: torch.Tensor, structure: torch.Tensor | None = None) -> torch.Tensor:
        """Masked-node prediction logits ``(B, 1+L, vocab_size)`` (output matrix tied to the embeddings)."""
        states, _ = self._states(ids, structure)
        weight = self.embeddings.weight[: self.config.vocab_size]
        return self.mlm_transform(states) @ weight.T + self.mlm_bias

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters bottom-up for discriminative LRs: embeddings, bottom-up conv, top-down conv, head."""
        return [
            list(self.embeddings.parameters()),
            [*self.up.parameters(), *self.up_norm.parameters()],
            [*self.slot_embeddings.parameters(), *self.down.parameters(), *self.down_norm.parameters()],
            [*self.out.parameters(), *self.out_norm.parameters(), *self.pooler.parameters(),
             *self.mlm_transform.parameters(), self.mlm_bias],
        ]
