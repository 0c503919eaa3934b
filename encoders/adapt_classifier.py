"""Sentiment fine-tuning of a BERT-family encoder with ULMFiT's strategies (FinBERT stage 2), and a probe.

``sequence_classifier`` builds ``AutoModelForSequenceClassification`` with FinBERT's label order;
``finetune_classifier`` fine-tunes it with STLR, discriminative rates and gradual unfreezing from
:mod:`encoders.finetune` (each can be switched off in :class:`ClassifierFinetuneSettings`);
``predict_proba``, ``classification_scores`` and ``logistic_probe`` (logistic regression on frozen
embeddings, C chosen by cross-validation) evaluate. Every random draw comes from an explicit seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from alpha_env.errors import DataError, SettingsError
from encoders.adapt_common import SENTIMENT_LABELS, clipped_update, length_batches, pad_rows, tokenize_texts
from encoders.finetune import (
    bert_layer_groups,
    discriminative_groups,
    slanted_triangular,
    unfreeze_top,
    unfrozen_groups,
)

__all__ = [
    "sequence_classifier",
    "ClassifierFinetuneSettings",
    "FinetuneReport",
    "finetune_classifier",
    "predict_proba",
    "classification_scores",
    "logistic_probe",
]


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
class ClassifierFinetuneSettings:
    """Options of :func:`finetune_classifier` (FinBERT / ULMFiT strategies can each be switched off).

    ``layer_lr_decay``: discriminative rates, the layer group ``l`` below the top trains at
    ``lr * layer_lr_decay**l`` (in (0, 1]; FinBERT: 0.85 per layer; 1 = off; the meaning of
    :mod:`encoders.finetune`). ``unfreeze_every``: with
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
    layer_lr_decay: float = 0.85
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
        if not 0.0 < self.layer_lr_decay <= 1.0:
            raise SettingsError(f"layer_lr_decay must be in (0, 1] (1 = off), got {self.layer_lr_decay}")
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


def finetune_classifier(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    labels: np.ndarray,
    settings: ClassifierFinetuneSettings | None = None,
    *,
    show_progress: bool = False,
) -> FinetuneReport:
    """Fine-tune a ``*ForSequenceClassification`` BERT-family model on ``(texts, labels)`` in place.

    AdamW over :func:`bert_layer_groups` with per-group learning rates ``lr * layer_lr_decay**depth``
    (:func:`discriminative_groups`), times the STLR multiplier (or constant when ``stlr=False``);
    gradient clipping at 1; length-bucketed shuffled batches.
    """
    s = settings or ClassifierFinetuneSettings()
    s.check()
    labels = np.asarray(labels, dtype=np.int64)
    if len(texts) != labels.size or labels.size == 0:
        raise DataError(f"finetune_classifier: {len(texts)} texts but {labels.size} labels")
    rows = tokenize_texts(tokenizer, texts, s.max_length)
    groups = bert_layer_groups(model)
    param_groups = discriminative_groups(groups, s.lr, s.layer_lr_decay)
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
                ids, attention = pad_rows([rows[i] for i in batch], tokenizer.pad_token_id)
                target = torch.as_tensor(labels[batch])
                logits = model(input_ids=ids, attention_mask=attention.long()).logits
                loss = nn.functional.cross_entropy(logits, target)
                clipped_update(model, optimizer, schedule, loss)
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
    rows = tokenize_texts(tokenizer, texts, max_length)
    out = np.zeros((len(rows), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for batch in length_batches([len(r) for r in rows], batch_size):
            ids, attention = pad_rows([rows[i] for i in batch], tokenizer.pad_token_id)
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
