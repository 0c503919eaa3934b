"""The FinBERT recipe on a small model: domain MLM pretraining, sentiment fine-tuning, a linear probe.

Araci (2019) built FinBERT in two stages: further masked-language-model pretraining of BERT on financial
news, then fine-tuning on Financial PhraseBank with ULMFiT's strategies (slanted triangular learning
rates, discriminative learning rates per layer, gradual unfreezing). This module holds the pieces, for
any transformers BERT-family model; ``experiments/adapt_document_encoder.py`` runs them on the bundled
all-MiniLM-L6-v2.

=============================  ==========================================================================
function                       job
=============================  ==========================================================================
``load_phrasebank``            the PhraseBank CSV → texts and class ids (columns = :data:`SENTIMENT_LABELS`)
``stratified_split``           seeded stratified train/test indices
``train_period_news``          ``"title. lead"`` of the news articles dated inside the panel's train split
``masked_lm``                  ``AutoModelForMaskedLM`` from a folder; reports a freshly initialised head
``further_pretrain_mlm``       MLM further pretraining (BERT masking; loss on masked positions only)
``mlm_eval``                   held-out masked-token loss and accuracy
``sequence_classifier``        ``AutoModelForSequenceClassification`` with FinBERT's label order
``finetune_classifier``        fine-tuning with STLR / discriminative LRs / gradual unfreezing as options
``predict_proba``              class probabilities ``(n, classes)``
``classification_scores``      accuracy and macro-F1
``logistic_probe``             logistic regression (C chosen by cross-validation on the train part)
``embeddings_per_second``      encoder throughput on given texts
=============================  ==========================================================================

Every random draw comes from an explicit seed (``torch.Generator`` / ``np.random.Generator``; dropout
runs inside ``torch.random.fork_rng``), so the caller's global RNG state is never touched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from alpha_env.errors import DataError, SettingsError
from encoders.finetune import bert_layer_groups, discriminative_groups, slanted_triangular, unfreeze_top
from encoders.pretrain import IGNORE_INDEX, mask_tokens

__all__ = [
    "SENTIMENT_LABELS",
    "load_phrasebank",
    "stratified_split",
    "train_period_news",
    "length_batches",
    "masked_lm",
    "MLMReport",
    "further_pretrain_mlm",
    "mlm_eval",
    "sequence_classifier",
    "FinetuneSettings",
    "FinetuneReport",
    "unfrozen_groups",
    "finetune_classifier",
    "predict_proba",
    "classification_scores",
    "logistic_probe",
    "embeddings_per_second",
]

SENTIMENT_LABELS: tuple[str, ...] = ("positive", "negative", "neutral")
"""Class order of the sentiment head (FinBERT's, so ``DocumentEncoder.polarity`` reads it the same way)."""


# --------------------------------------------------------------------------- data
def load_phrasebank(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a Financial PhraseBank CSV (``sentence,label``).

    Returns:
        ``(texts, labels)``: ``labels`` is ``int64 (n,)`` indexing :data:`SENTIMENT_LABELS`.

    Raises:
        DataError: missing file or column, an empty sentence, or a label outside the three classes
            (the row is named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"PhraseBank file not found: {path}")
    frame = pd.read_csv(path, encoding_errors="replace")
    for column in ("sentence", "label"):
        if column not in frame.columns:
            raise DataError(f"{path}: no column '{column}' (columns: {list(frame.columns)})")
    index = {label: i for i, label in enumerate(SENTIMENT_LABELS)}
    labels = np.empty(len(frame), dtype=np.int64)
    texts: list[str] = []
    for row, (sentence, label) in enumerate(zip(frame["sentence"], frame["label"])):
        key = str(label).strip().lower()
        if key not in index:
            raise DataError(f"{path}: row {row} has label {label!r}, expected one of {SENTIMENT_LABELS}")
        if not isinstance(sentence, str) or not sentence.strip():
            raise DataError(f"{path}: row {row} has an empty sentence")
        labels[row] = index[key]
        texts.append(sentence.strip())
    return texts, labels


def stratified_split(
    labels: np.ndarray, test_share: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: ``(train_indices, test_indices)``, each sorted, disjoint, covering all rows.

    Every class keeps (up to rounding) the same share in both parts.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_share < 1.0:
        raise SettingsError(f"test_share must be in (0, 1), got {test_share}")
    labels = np.asarray(labels)
    counts = np.bincount(labels) if labels.size else np.array([])
    if labels.size == 0 or np.min(counts[counts > 0]) < 2:
        raise DataError("stratified_split needs at least 2 examples of every class present")
    train, test = train_test_split(
        np.arange(labels.size), test_size=test_share, stratify=labels, random_state=seed
    )
    return np.sort(train), np.sort(test)


def train_period_news(
    news: str | Path,
    prices: str | Path,
    *,
    splits: Any = None,
    split: str = "train",
    limit: int | None = None,
    seed: int = 0,
) -> tuple[list[str], np.datetime64]:
    """Texts ``"title. lead"`` of the articles dated on or before the last trading date of ``split``.

    The split is :func:`alpha_env.data.make_splits` over the distinct trading dates of ``prices``
    (default spec: the first 60% of the dates are ``train``), so no article from the validation or test
    period is ever seen. ``limit`` keeps a seeded random sample of that many articles (in date order).

    Returns:
        ``(texts, last_date)``.
    """
    from alpha_env.data import make_splits
    from alpha_env.data.loaders import read_table

    dates = read_table(prices, columns=["date"])["date"]
    days = np.unique(pd.to_datetime(dates).to_numpy().astype("datetime64[D]"))
    ranges = make_splits(days, splits)
    if split not in ranges:
        raise SettingsError(f"split {split!r} not among {sorted(ranges)}")
    last = days[ranges[split].stop - 1]
    frame = read_table(news, columns=["date", "title", "lead"])
    published = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")
    keep = frame[published <= last]
    if keep.empty:
        raise DataError(f"{news}: no article dated on or before {last} (end of split '{split}')")
    if limit is not None and limit < len(keep):
        rows = np.sort(np.random.default_rng(seed).choice(len(keep), size=limit, replace=False))
        keep = keep.iloc[rows]
    title = keep["title"].fillna("").astype(str).str.strip()
    lead = keep["lead"].fillna("").astype(str).str.strip()
    texts = [f"{t}. {b}" if t and b else t or b for t, b in zip(title, lead)]
    return [t for t in texts if t], last


def length_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Index batches of similar lengths (less padding): shuffled pools of 50 batches, sorted within.

    Without ``rng`` the batches follow ascending length (inference); with it, pools and batch order are
    shuffled (training).
    """
    if batch_size < 1:
        raise SettingsError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def _pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token-id rows: ``ids (B, L) long`` and ``attention (B, L) bool`` (True at real tokens)."""
    lengths = torch.tensor([len(r) for r in rows])
    width = int(lengths.max())
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
    return ids, torch.arange(width)[None, :] < lengths[:, None]


# --------------------------------------------------------------------------- masked-LM further pretraining
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
        ids, attention = _pad(rows, self.pad_id)
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


def _update(
    model: nn.Module, optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
    loss: torch.Tensor,
) -> None:
    """One optimizer step on ``loss``: gradients of the trainable parameters clipped to norm 1, then the
    learning-rate schedule advances."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    schedule.step()


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
    rows = _tokenize(tokenizer, texts, max_length)
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
                _update(model, optimizer, schedule, loss)
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
    rows = _tokenize(tokenizer, texts, max_length)
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


# --------------------------------------------------------------------------- sentiment fine-tuning
def sequence_classifier(
    folder: str | Path,
    labels: Sequence[str] = SENTIMENT_LABELS,
    *,
    pooler_from: str | Path | None = None,
    seed: int = 0,
) -> tuple[nn.Module, list[str]]:
    """``AutoModelForSequenceClassification`` from a local folder with a fresh ``len(labels)``-way head.

    The fresh head is initialised from ``seed`` (the global RNG state is left untouched).

    ``pooler_from``: a folder whose ``pooler.dense`` weights are copied in when ``folder`` has none (a
    folder saved from a masked-LM model carries no pooler; copying the original's keeps runs with and
    without domain pretraining comparable).

    Returns:
        ``(model, fresh)``: the parameters initialised anew (classifier, and pooler when not copied).
    """
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    id2label = dict(enumerate(labels))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, info = AutoModelForSequenceClassification.from_pretrained(
                str(folder),
                local_files_only=True,
                output_loading_info=True,
                num_labels=len(labels),
                id2label=id2label,
                label2id={v: k for k, v in id2label.items()},
                ignore_mismatched_sizes=True,
            )
    finally:
        hf_logging.set_verbosity(verbosity)
    fresh = sorted(set(info.get("missing_keys", [])) | {k for k, *_ in info.get("mismatched_keys", [])})
    pooler = getattr(model.base_model, "pooler", None)
    if pooler_from is not None and pooler is not None and any("pooler" in k for k in fresh):
        from transformers import AutoModel

        source = AutoModel.from_pretrained(str(pooler_from), local_files_only=True)
        if getattr(source, "pooler", None) is not None:
            pooler.load_state_dict(source.pooler.state_dict())
            fresh = [k for k in fresh if "pooler" not in k]
    return model, fresh


@dataclass
class FinetuneSettings:
    """Fine-tuning options (FinBERT / ULMFiT strategies can each be switched off).

    ``discriminative_decay``: each layer group below the top trains with a learning rate this many
    times smaller (FinBERT: 0.85 per layer, i.e. 1/0.85 ≈ 1.18; 1 = off). ``unfreeze_every``: with
    ``gradual_unfreezing``, steps between unfreezing the next group down (``None`` = spread over the
    first epoch: all groups train from the end of epoch 1). Groups: embeddings, each encoder layer, head.
    """

    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-4
    max_length: int = 64
    weight_decay: float = 0.01
    stlr: bool = True
    cut_frac: float = 0.1
    ratio: float = 32.0
    discriminative_decay: float = 1.0 / 0.85
    gradual_unfreezing: bool = True
    unfreeze_every: int | None = None
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`SettingsError` on impossible values."""
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.max_length < 4:
            raise SettingsError(
                f"bad fine-tuning settings epochs={self.epochs}, batch_size={self.batch_size}, "
                f"lr={self.lr}, max_length={self.max_length}"
            )
        if self.discriminative_decay < 1.0:
            raise SettingsError(
                f"discriminative_decay must be >= 1 (1 = off), got {self.discriminative_decay}"
            )
        if self.unfreeze_every is not None and self.unfreeze_every < 1:
            raise SettingsError(f"unfreeze_every must be >= 1 or None, got {self.unfreeze_every}")


@dataclass
class FinetuneReport:
    """Per-step losses and trainable groups, group learning rates, steps, seconds of a fine-tuning run."""

    train_loss: list[float] = field(default_factory=list)
    trainable_groups: list[int] = field(default_factory=list)
    group_lrs: list[float] = field(default_factory=list)
    """peak learning rate of each layer group, bottom-up (before the STLR multiplier)"""
    steps: int = 0
    seconds: float = 0.0


def unfrozen_groups(step: int, n_groups: int, every: int) -> int:
    """Gradual unfreezing: top groups training at ``step`` (0-based): 1, one more every ``every`` steps."""
    return min(1 + step // max(every, 1), n_groups)


def finetune_classifier(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    labels: np.ndarray,
    settings: FinetuneSettings | None = None,
    *,
    show_progress: bool = False,
) -> FinetuneReport:
    """Fine-tune a ``*ForSequenceClassification`` BERT-family model on ``(texts, labels)`` in place.

    AdamW over :func:`bert_layer_groups` with per-group learning rates ``lr / decay**depth``
    (:func:`discriminative_groups`), times the STLR multiplier (or constant when ``stlr=False``);
    gradient clipping at 1; length-bucketed shuffled batches.
    """
    s = settings or FinetuneSettings()
    s.check()
    labels = np.asarray(labels, dtype=np.int64)
    if len(texts) != labels.size or labels.size == 0:
        raise DataError(f"finetune_classifier: {len(texts)} texts but {labels.size} labels")
    rows = _tokenize(tokenizer, texts, s.max_length)
    groups = bert_layer_groups(model)
    param_groups = discriminative_groups(groups, s.lr, s.discriminative_decay)
    peak_lrs = [float(g["lr"]) for g in param_groups]  # the scheduler rescales the dicts in place
    optimizer = torch.optim.AdamW(param_groups, lr=s.lr, weight_decay=s.weight_decay)
    batches_per_epoch = math.ceil(len(rows) / s.batch_size)
    total = s.epochs * batches_per_epoch
    every = s.unfreeze_every or max(batches_per_epoch // len(groups), 1)

    def multiplier(step: int) -> float:
        return slanted_triangular(step, total, s.cut_frac, s.ratio) if s.stlr else 1.0

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    rng = np.random.default_rng(s.seed)
    report = FinetuneReport(group_lrs=peak_lrs)
    start = time.perf_counter()
    bar = tqdm(total=total, desc="fine-tune", disable=not show_progress, leave=False)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)
        step = 0
        for _ in range(s.epochs):
            for batch in length_batches([len(r) for r in rows], s.batch_size, rng):
                k = unfrozen_groups(step, len(groups), every) if s.gradual_unfreezing else len(groups)
                unfreeze_top(groups, k)
                ids, attention = _pad([rows[i] for i in batch], tokenizer.pad_token_id)
                target = torch.as_tensor(labels[batch])
                logits = model(input_ids=ids, attention_mask=attention.long()).logits
                loss = nn.functional.cross_entropy(logits, target)
                _update(model, optimizer, schedule, loss)
                report.train_loss.append(loss.item())
                report.trainable_groups.append(k)
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{report.train_loss[-1]:.3f}", groups=k)
    bar.close()
    unfreeze_top(groups, len(groups))
    model.eval()
    report.steps = step
    report.seconds = time.perf_counter() - start
    return report


def predict_proba(
    model: nn.Module, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 64
) -> np.ndarray:
    """Softmax class probabilities of a sequence classifier: ``float32 (len(texts), num_labels)``."""
    rows = _tokenize(tokenizer, texts, max_length)
    out = np.zeros((len(rows), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for batch in length_batches([len(r) for r in rows], batch_size):
            ids, attention = _pad([rows[i] for i in batch], tokenizer.pad_token_id)
            logits = model(input_ids=ids, attention_mask=attention.long()).logits
            out[batch] = torch.softmax(logits.float(), dim=-1).numpy()
    return out


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``accuracy`` and ``macro_f1`` (unweighted mean of the per-class F1) of predicted class ids."""
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise DataError(f"classification_scores: shapes {y_true.shape} and {y_pred.shape}")
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def logistic_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    threads: int = 1,
) -> tuple[np.ndarray, float]:
    """Multinomial logistic regression on frozen features ``(n, d)``; returns test predictions and C.

    Features are standardised with the train part's mean and deviation; the inverse regularisation
    strength C (``10**-3 .. 10**2``, 6 values) is chosen by the log-loss of a stratified, shuffled
    ``folds``-fold cross-validation on the train part only, then refitted on the whole train part.
    ``threads`` caps the BLAS threads of the fits (idle-spinning BLAS threads make small fits several
    times slower on a busy machine).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    train_x, test_x = np.asarray(train_x, dtype=np.float64), np.asarray(test_x, dtype=np.float64)
    train_y = np.asarray(train_y)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise DataError(f"logistic_probe: feature shapes {train_x.shape} and {test_x.shape} do not match")
    if train_y.shape != (train_x.shape[0],):
        raise DataError(f"logistic_probe: {train_x.shape[0]} feature rows, labels of shape {train_y.shape}")
    folds = int(min(folds, np.bincount(train_y).min()))
    if folds < 2:
        raise DataError("logistic_probe needs at least 2 training examples of every class")
    search = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        {"logisticregression__C": np.logspace(-3, 2, 6)},
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        scoring="neg_log_loss",
    )
    with threadpool_limits(threads):
        search.fit(train_x, train_y)
        predicted = search.predict(test_x)
    return predicted, float(search.best_params_["logisticregression__C"])


# --------------------------------------------------------------------------- speed
def embeddings_per_second(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 128,
    rounds: int = 1,
) -> float:
    """Texts per second of ``model`` (a bare encoder: ``last_hidden_state`` + mean pooling) on ``texts``.

    One warm-up batch is run first and not timed; then ``rounds`` passes over all texts, batches padded
    to their longest text as in :class:`encoders.DocumentEncoder`.
    """
    from encoders.pooling import pool

    batches = [list(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    if not batches:
        raise DataError("embeddings_per_second got no texts")
    model.eval()

    def run(batch: list[str]) -> None:
        tokens = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        hidden = model(**tokens).last_hidden_state
        pool(hidden, tokens["attention_mask"], "mean")

    with torch.inference_mode():
        run(batches[0])
        start = time.perf_counter()
        for _ in range(rounds):
            for batch in batches:
                run(batch)
        seconds = time.perf_counter() - start
    return rounds * len(texts) / seconds
