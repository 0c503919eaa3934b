"""Domain adaptation of a BERT-family encoder by further masked-language-model pretraining (FinBERT stage 1).

``masked_lm`` loads ``AutoModelForMaskedLM`` from a folder (reporting a freshly initialised head),
``further_pretrain_mlm`` runs BERT masking with STLR and a head-only warm-up
(:mod:`encoders.finetune`), ``mlm_eval`` gives the held-out masked-token loss and accuracy. Every random
draw comes from an explicit seed; dropout runs inside ``torch.random.fork_rng``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from alpha_env.errors import DataError, SettingsError
from encoders.adapt_common import clipped_update, length_batches, pad_rows, tokenize_texts
from encoders.finetune import bert_layer_groups, slanted_triangular, unfreeze_top
from encoders.pretrain import IGNORE_INDEX, mask_tokens

__all__ = ["masked_lm", "MLMReport", "further_pretrain_mlm", "mlm_eval"]


def masked_lm(folder: str | Path, *, seed: int = 0) -> tuple[nn.Module, list[str]]:
    """``AutoModelForMaskedLM`` from a local folder, offline; missing weights initialised from ``seed``.

    Returns:
        ``(model, fresh)``: ``fresh`` lists the parameters the folder did not hold and that were
        initialised anew (the whole MLM head for a sentence-transformers checkpoint such as
        all-MiniLM-L6-v2; the decoder matrix stays tied to the word embeddings).
    """
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report of a missing head is expected; returned instead
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, info = AutoModelForMaskedLM.from_pretrained(
                str(folder), local_files_only=True, output_loading_info=True
            )
    finally:
        hf_logging.set_verbosity(verbosity)
    if not hasattr(model, "cls") or not hasattr(model, "base_model"):
        raise SettingsError(f"{folder}: {type(model).__name__} is not a BERT-family masked LM")
    return model, sorted(info.get("missing_keys", []))


@dataclass
class MLMReport:
    """What :func:`further_pretrain_mlm` did: per-step train losses, texts, steps and seconds."""

    train_loss: list[float] = field(default_factory=list)
    steps: int = 0
    texts: int = 0
    tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Masking:
    """What BERT masking needs from a tokenizer: special ids, replacement ids, [MASK] and [PAD]."""

    special: torch.Tensor
    replacements: torch.Tensor
    mask_id: int
    pad_id: int
    vocab_size: int

    @classmethod
    def of(cls, tokenizer: Any) -> _Masking:
        if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
            raise SettingsError(f"{type(tokenizer).__name__} has no [MASK] or [PAD] token: not a masked LM")
        special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        vocab = torch.arange(len(tokenizer))
        return cls(special, vocab[~torch.isin(vocab, special)], tokenizer.mask_token_id,
                   tokenizer.pad_token_id, len(tokenizer))

    def batch(
        self, rows: Sequence[Sequence[int]], generator: torch.Generator, probability: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(inputs, attention, labels)`` of one batch; labels are ``IGNORE_INDEX`` off masked positions."""
        ids, attention = pad_rows(rows, self.pad_id)
        inputs, labels = mask_tokens(
            ids,
            mask_id=self.mask_id,
            vocab_size=self.vocab_size,
            maskable=attention & ~torch.isin(ids, self.special),
            generator=generator,
            probability=probability,
            replacements=self.replacements,
        )
        return inputs, attention.long(), labels


def _mlm_loss(model: nn.Module, inputs: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor) -> tuple[
    torch.Tensor, torch.Tensor
]:
    """Cross-entropy on the masked positions only (the vocabulary projection runs on those rows alone)."""
    hidden = model.base_model(input_ids=inputs, attention_mask=attention).last_hidden_state
    chosen = labels != IGNORE_INDEX
    logits = model.cls(hidden[chosen])
    target = labels[chosen]
    return nn.functional.cross_entropy(logits, target), logits.argmax(dim=-1) == target


def further_pretrain_mlm(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 5e-5,
    max_length: int = 128,
    probability: float = 0.15,
    head_warmup: float = 0.1,
    weight_decay: float = 0.01,
    seed: int = 0,
    show_progress: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> MLMReport:
    """Further masked-LM pretraining of a BERT-family ``model`` (``*ForMaskedLM``) on ``texts``.

    BERT masking (15% of the real non-special tokens; 80% [MASK], 10% a random token, 10% kept), AdamW
    with a slanted triangular schedule and gradient clipping at 1. During the first ``head_warmup``
    share of the steps only the MLM head trains (so a freshly initialised head does not push random
    gradients into the pretrained layers); then everything trains.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0 or not 0.0 <= head_warmup < 1.0:
        raise SettingsError(
            f"bad MLM settings epochs={epochs}, batch_size={batch_size}, lr={lr}, head_warmup={head_warmup}"
        )
    if not texts:
        raise DataError("further_pretrain_mlm got no texts")
    rows = tokenize_texts(tokenizer, texts, max_length)
    masking = _Masking.of(tokenizer)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    groups = bert_layer_groups(model)
    batches_per_epoch = math.ceil(len(rows) / batch_size)
    total = epochs * batches_per_epoch
    warm_steps = int(total * head_warmup)
    optimizer = torch.optim.AdamW(
        [p for params in groups for p in params], lr=lr, weight_decay=weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: slanted_triangular(s, total))
    report = MLMReport(texts=len(rows))
    start = time.perf_counter()
    bar = tqdm(total=total, desc="MLM", disable=not show_progress, leave=False)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        step = 0
        for _ in range(epochs):
            for batch in length_batches([len(r) for r in rows], batch_size, rng):
                unfreeze_top(groups, 1 if step < warm_steps else len(groups))
                inputs, attention, labels = masking.batch([rows[i] for i in batch], generator, probability)
                loss, _ = _mlm_loss(model, inputs, attention, labels)
                clipped_update(model, optimizer, schedule, loss)
                report.train_loss.append(loss.item())
                report.tokens += int(attention.sum())
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{report.train_loss[-1]:.3f}")
                if on_step is not None:
                    on_step(step, report.train_loss[-1])
    bar.close()
    unfreeze_top(groups, len(groups))
    model.eval()
    report.steps = step
    report.seconds = time.perf_counter() - start
    return report


def mlm_eval(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 128,
    probability: float = 0.15,
    seed: int = 0,
) -> dict[str, float]:
    """Held-out masked-token ``loss`` (mean cross-entropy, nats) and ``accuracy`` (arg-max) on ``texts``.

    The same ``seed`` masks the same positions, so two models are compared on identical inputs.
    """
    rows = tokenize_texts(tokenizer, texts, max_length)
    masking = _Masking.of(tokenizer)
    generator = torch.Generator().manual_seed(seed)
    total_loss = correct = count = 0.0
    model.eval()
    with torch.inference_mode():
        for batch in length_batches([len(r) for r in rows], batch_size):
            inputs, attention, labels = masking.batch([rows[i] for i in batch], generator, probability)
            loss, hits = _mlm_loss(model, inputs, attention, labels)
            total_loss += float(loss) * hits.numel()
            correct += float(hits.sum())
            count += hits.numel()
    if count == 0:
        raise DataError("mlm_eval: no maskable token in the texts")
    return {"loss": total_loss / count, "accuracy": correct / count, "masked_tokens": int(count)}
