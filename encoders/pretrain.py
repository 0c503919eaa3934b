"""Stage-1 pretraining on an alpha corpus: masked tokens (AlphaEncoder), next tokens (AlphaDecoder).

Both loops take the corpus as a list of id sequences (``codebook.encode(expr)`` of each expression; a
leading BOS and a trailing END are accepted and stripped) and are fully determined by ``seed``: the
shuffling, the masking and dropout all draw from a seeded generator, and the caller's global torch RNG
state is restored afterwards.

=========================  ==================================================================
function                   what it does
=========================  ==================================================================
``pad_sequences``          list of id lists → ``(B, L)`` long tensor right-padded with PAD
``mask_tokens``            BERT masking: 15% of real tokens chosen; of those 80% → [MASK],
                           10% → a random codebook token, 10% unchanged; labels −100 elsewhere
``pretrain_alpha_encoder`` AdamW + slanted triangular LR on the masked-token loss
``masked_token_accuracy``  accuracy on the chosen positions of held-out sequences
``teacher_forcing``        ``[BOS, t1..tk]`` inputs and ``[t1..tk, END]`` targets
``pretrain_decoder``       AdamW + slanted triangular LR on next-token cross-entropy, optionally
                           conditioned on one document vector per sequence
``next_token_accuracy``    held-out accuracy of the arg-max next token over all real positions
=========================  ==================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from alpha_env.errors import SettingsError
from encoders.alpha_encoder import AlphaEncoder
from encoders.config import seeded
from encoders.decoder import AlphaDecoder
from encoders.finetune import slanted_triangular
from encoders.tree_encoder import AlphaTreeEncoder

__all__ = [
    "IGNORE_INDEX",
    "PretrainHistory",
    "pad_sequences",
    "strip_specials",
    "mask_tokens",
    "pretrain_alpha_encoder",
    "masked_token_accuracy",
    "teacher_forcing",
    "pretrain_decoder",
    "next_token_accuracy",
]

IGNORE_INDEX = -100
"""Label of positions that carry no loss (``nn.functional.cross_entropy``'s ``ignore_index``)."""


@dataclass
class PretrainHistory:
    """Per-epoch record of a pretraining run.

    Attributes:
        train_loss: mean training loss of each epoch (nats per predicted token).
        valid_accuracy: held-out accuracy after each epoch (empty without held-out data).
        steps: optimizer steps taken.
    """

    train_loss: list[float] = field(default_factory=list)
    valid_accuracy: list[float] = field(default_factory=list)
    steps: int = 0


def strip_specials(seq: Sequence[int], bos_id: int, end_id: int) -> list[int]:
    """The written tokens of ``seq``: one leading BOS and one trailing END removed when present."""
    ids = [int(t) for t in seq]
    if ids and ids[0] == bos_id:
        ids = ids[1:]
    if ids and ids[-1] == end_id:
        ids = ids[:-1]
    return ids


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int = 0, length: int | None = None) -> torch.Tensor:
    """``(len(seqs), length)`` long tensor, each row a sequence right-padded with ``pad_id``.

    ``length`` defaults to the longest sequence; a longer sequence raises :class:`SettingsError`.
    """
    longest = max((len(s) for s in seqs), default=0)
    length = longest if length is None else length
    if longest > length:
        raise SettingsError(f"a sequence of {longest} tokens does not fit length {length}")
    out = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    for i, seq in enumerate(seqs):
        if len(seq):
            out[i, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
    return out


def mask_tokens(
    ids: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    maskable: torch.Tensor,
    generator: torch.Generator,
    probability: float = 0.15,
    replacements: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style masking of ``ids`` (B, L).

    Args:
        ids: token ids.
        mask_id: the [MASK] id.
        vocab_size: codebook size.
        maskable: ``(B, L)`` bool, the positions that may be chosen (real tokens, not BOS/PAD).
        generator: torch generator of all draws.
        probability: share of maskable positions chosen; every row with a maskable position gets at least one.
        replacements: ids random replacements are drawn from (default: ``1..vocab_size-1``); pass the
            codebook without its special tokens.

    Returns:
        ``(inputs, labels)``: inputs with the chosen positions altered, labels equal to the original id at
        chosen positions and :data:`IGNORE_INDEX` elsewhere.
    """
    draw = torch.rand(ids.shape, generator=generator)
    chosen = (draw < probability) & maskable
    # Rows with nothing chosen: choose their maskable position with the smallest draw.
    empty = ~chosen.any(dim=1) & maskable.any(dim=1)
    if bool(empty.any()):
        scores = draw.masked_fill(~maskable, 2.0)
        first = scores.argmin(dim=1)
        rows = empty.nonzero().flatten()
        chosen[rows, first[rows]] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    action = torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (action < 0.8)] = mask_id
    swap = chosen & (action >= 0.8) & (action < 0.9)
    pool = torch.arange(1, vocab_size) if replacements is None else replacements.long()
    randoms = pool[torch.randint(0, len(pool), ids.shape, generator=generator)]
    inputs[swap] = randoms[swap]
    return inputs, labels


def _encoder_batch(
    encoder: AlphaEncoder | AlphaTreeEncoder, seqs: Sequence[Sequence[int]], generator: torch.Generator,
    probability: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = encoder.config
    body = [strip_specials(s, cfg.bos_id, cfg.end_id) for s in seqs]
    ids = pad_sequences(body, cfg.pad_id)
    ids = torch.cat([torch.full((len(body), 1), cfg.bos_id, dtype=torch.long), ids], dim=1)
    maskable = ids != cfg.pad_id
    maskable[:, 0] = False
    specials = torch.tensor([cfg.pad_id, cfg.bos_id, cfg.end_id])
    replacements = torch.arange(cfg.vocab_size)
    replacements = replacements[~torch.isin(replacements, specials)]
    return mask_tokens(
        ids,
        mask_id=cfg.mask_id,
        vocab_size=cfg.vocab_size,
        maskable=maskable,
        generator=generator,
        probability=probability,
        replacements=replacements,
    )


def _unmasked(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The ids before masking (labels hold the originals at the chosen positions): the tree links."""
    return torch.where(labels != IGNORE_INDEX, labels, inputs)


def _check_corpus(seqs: Sequence[Sequence[int]], max_len: int, what: str) -> None:
    if len(seqs) == 0:
        raise SettingsError(f"{what}: the corpus is empty")
    for i, seq in enumerate(seqs):
        if len(seq) > max_len + 2:
            raise SettingsError(f"{what}: sequence {i} has {len(seq)} tokens, more than max_len {max_len}")


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    order = torch.randperm(n, generator=generator).tolist()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _optimizer(model: nn.Module, lr: float, weight_decay: float, total: int,
               extra_groups: Sequence[dict] = ()):
    """AdamW over ``model`` at ``lr`` plus ``extra_groups`` (each at ``lr * group["lr_scale"]``), with the
    slanted triangular schedule over ``total`` steps."""
    groups = [{"params": list(model.parameters())}]
    groups += [{"params": g["params"], "lr": lr * float(g.get("lr_scale", 1.0))} for g in extra_groups]
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: slanted_triangular(step, total))
    return optimizer, schedule



def _token_loss_step(
    model: nn.Module, logits: torch.Tensor, labels: torch.Tensor, optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
) -> float:
    """One optimisation step on the token cross-entropy of ``logits`` (B, L, V) against ``labels``
    (B, L; ``IGNORE_INDEX`` skipped), with gradient clipping at norm 1; returns the loss value."""
    loss = nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
    optimizer.step()
    schedule.step()
    return float(loss.item())

def pretrain_alpha_encoder(
    encoder: AlphaEncoder | AlphaTreeEncoder,
    sequences: Sequence[Sequence[int]],
    *,
    valid: Sequence[Sequence[int]] | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    probability: float = 0.15,
    seed: int = 0,
    show_progress: bool = False,
    on_epoch: Callable[[int, PretrainHistory], None] | None = None,
) -> PretrainHistory:
    """Masked-token pretraining of ``encoder`` on ``sequences`` (in place); see the module table.

    ``encoder`` is the stack transformer (:class:`AlphaEncoder`) or the tree network
    (:class:`AlphaTreeEncoder`, masked-node objective: labels hidden, tree links read from the unmasked ids).

    Returns:
        :class:`PretrainHistory` (train loss per epoch; masked-token accuracy on ``valid`` per epoch).
    """
    _check_corpus(sequences, encoder.config.max_len, "pretrain_alpha_encoder")
    history = PretrainHistory()
    generator = torch.Generator().manual_seed(seed)
    total = epochs * math.ceil(len(sequences) / batch_size)
    optimizer, schedule = _optimizer(encoder, lr, weight_decay, total)
    with seeded(seed):
        for epoch in tqdm(range(epochs), desc="encoder MLM", disable=not show_progress):
            encoder.train()
            losses = []
            for batch in _batches(len(sequences), batch_size, generator):
                inputs, labels = _encoder_batch(
                    encoder, [sequences[i] for i in batch], generator, probability
                )
                logits = encoder.mlm_logits(inputs, structure=_unmasked(inputs, labels))
                losses.append(_token_loss_step(encoder, logits, labels, optimizer, schedule))
                history.steps += 1
            history.train_loss.append(float(np.mean(losses)))
            if valid:
                history.valid_accuracy.append(masked_token_accuracy(encoder, valid, seed=seed + 1))
            if on_epoch is not None:
                on_epoch(epoch, history)
    encoder.eval()
    return history


@torch.no_grad()
def masked_token_accuracy(
    encoder: AlphaEncoder | AlphaTreeEncoder,
    sequences: Sequence[Sequence[int]],
    *,
    seed: int = 0,
    probability: float = 0.15,
    batch_size: int = 256,
) -> float:
    """Share of masked positions of ``sequences`` whose original token is the arg-max prediction."""
    was_training = encoder.training
    encoder.eval()
    generator = torch.Generator().manual_seed(seed)
    correct = total = 0
    for start in range(0, len(sequences), batch_size):
        inputs, labels = _encoder_batch(
            encoder, sequences[start : start + batch_size], generator, probability
        )
        predicted = encoder.mlm_logits(inputs, structure=_unmasked(inputs, labels)).argmax(dim=-1)
        chosen = labels != IGNORE_INDEX
        correct += int((predicted[chosen] == labels[chosen]).sum())
        total += int(chosen.sum())
    encoder.train(was_training)
    return correct / max(total, 1)


def teacher_forcing(
    seqs: Sequence[Sequence[int]], *, bos_id: int, end_id: int, pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder inputs ``[BOS, t1..tk]`` and targets ``[t1..tk, END]``, both ``(B, 1 + max k)``.

    Target positions past each row's END hold :data:`IGNORE_INDEX`.
    """
    bodies = [strip_specials(s, bos_id, end_id) for s in seqs]
    inputs = pad_sequences([[bos_id, *b] for b in bodies], pad_id)
    targets = pad_sequences([[*b, end_id] for b in bodies], pad_id)
    lengths = torch.as_tensor([len(b) + 1 for b in bodies])
    positions = torch.arange(targets.shape[1]).unsqueeze(0)
    targets[positions >= lengths.unsqueeze(1)] = IGNORE_INDEX
    return inputs, targets


def _decoder_memory(
    decoder: AlphaDecoder, docs: np.ndarray | torch.Tensor | Callable | None, rows: list[int]
):
    if docs is None:
        return None
    if callable(docs):  # computed with gradients (e.g. a document encoder being fine-tuned)
        return decoder.memory(doc=docs(rows).float())
    batch = torch.as_tensor(np.asarray(docs)[rows] if isinstance(docs, np.ndarray) else docs[rows])
    return decoder.memory(doc=batch.float())


def _check_docs(decoder: AlphaDecoder, docs, n: int, what: str) -> None:
    if docs is None or callable(docs):
        return
    if decoder.config.doc_dim == 0:
        raise SettingsError(f"{what}: documents given but the decoder was built with doc_dim=0")
    if tuple(docs.shape) != (n, decoder.config.doc_dim):
        raise SettingsError(f"{what}: docs must be ({n}, {decoder.config.doc_dim}), got {tuple(docs.shape)}")


def pretrain_decoder(
    decoder: AlphaDecoder,
    sequences: Sequence[Sequence[int]],
    *,
    docs: np.ndarray | torch.Tensor | Callable[[list[int]], torch.Tensor] | None = None,
    valid: Sequence[Sequence[int]] | None = None,
    valid_docs: np.ndarray | torch.Tensor | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
    show_progress: bool = False,
    on_epoch: Callable[[int, PretrainHistory], None] | None = None,
    extra_groups: Sequence[dict] = (),
    on_step: Callable[[], None] | None = None,
) -> PretrainHistory:
    """Teacher-forced next-token pretraining of ``decoder`` on ``sequences`` (in place).

    Args:
        decoder: the model (trained in place, left in eval mode).
        sequences: id sequences (written tokens; a leading BOS / trailing END are accepted).
        docs: optional ``(len(sequences), doc_dim)`` document vectors, one per sequence, or a function
            ``rows → (len(rows), doc_dim)`` tensor computed with gradients (a document encoder being
            fine-tuned: pass its parameter groups as ``extra_groups``).
        valid, valid_docs: held-out sequences (and their documents) for :func:`next_token_accuracy`.
        epochs, batch_size, lr, weight_decay: optimization (AdamW, slanted triangular schedule).
        seed: seeds shuffling and dropout.
        show_progress: tqdm bar over epochs.
        on_epoch: called as ``on_epoch(epoch, history)`` after each epoch.
        extra_groups: more optimizer groups (``{"params": [...], "lr_scale": s}``, trained at ``lr * s``).
        on_step: called after every optimizer step (e.g. gradual unfreezing).

    Returns:
        :class:`PretrainHistory` (train loss per epoch; next-token accuracy on ``valid`` per epoch).
    """
    _check_corpus(sequences, decoder.config.max_len, "pretrain_decoder")
    _check_docs(decoder, docs, len(sequences), "pretrain_decoder")
    if valid is not None:
        _check_docs(decoder, valid_docs, len(valid), "pretrain_decoder (valid)")
    cfg = decoder.config
    history = PretrainHistory()
    generator = torch.Generator().manual_seed(seed)
    total = epochs * math.ceil(len(sequences) / batch_size)
    optimizer, schedule = _optimizer(decoder, lr, weight_decay, total, extra_groups)
    with seeded(seed):
        for epoch in tqdm(range(epochs), desc="decoder LM", disable=not show_progress):
            decoder.train()
            losses = []
            for batch in _batches(len(sequences), batch_size, generator):
                inputs, targets = teacher_forcing(
                    [sequences[i] for i in batch], bos_id=cfg.bos_id, end_id=cfg.end_id, pad_id=cfg.pad_id
                )
                logits, _ = decoder(inputs, _decoder_memory(decoder, docs, batch))
                losses.append(_token_loss_step(decoder, logits, targets, optimizer, schedule))
                history.steps += 1
                if on_step is not None:
                    on_step()
            history.train_loss.append(float(np.mean(losses)))
            if valid:
                history.valid_accuracy.append(next_token_accuracy(decoder, valid, docs=valid_docs))
            if on_epoch is not None:
                on_epoch(epoch, history)
    decoder.eval()
    return history


@torch.no_grad()
def next_token_accuracy(
    decoder: AlphaDecoder,
    sequences: Sequence[Sequence[int]],
    *,
    docs: np.ndarray | torch.Tensor | None = None,
    batch_size: int = 256,
) -> float:
    """Share of positions (every written token and the final END) predicted exactly by the arg-max."""
    _check_docs(decoder, docs, len(sequences), "next_token_accuracy")
    was_training = decoder.training
    decoder.eval()
    cfg = decoder.config
    correct = total = 0
    for start in range(0, len(sequences), batch_size):
        rows = list(range(start, min(start + batch_size, len(sequences))))
        inputs, targets = teacher_forcing(
            [sequences[i] for i in rows], bos_id=cfg.bos_id, end_id=cfg.end_id, pad_id=cfg.pad_id
        )
        logits, _ = decoder(inputs, _decoder_memory(decoder, docs, rows))
        real = targets != IGNORE_INDEX
        correct += int((logits.argmax(dim=-1)[real] == targets[real]).sum())
        total += int(real.sum())
    decoder.train(was_training)
    return correct / max(total, 1)
