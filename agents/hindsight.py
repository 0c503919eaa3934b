"""Hindsight document pretraining: teach the actor which expressions paid after which news.

Stage 1 (:mod:`agents.pretraining`) teaches the decoder the alpha language without documents, so its
document pathway starts untrained, and PPO alone must discover from noisy 20-day rewards that the news
should change what it writes (a small, conditional effect on the gradient). This stage gives the actor a
direct, supervised start on that mapping, from the **train split only**:

1. Simulate a pool of candidate expressions once over the panel (the package corpus: the 101 alphas,
   grammar-valid random expressions and mutations, each with its negation) and take each one's daily
   PnL.
2. For every admissible train decision date ``i``, the payoff of candidate ``e`` is the annualized Sharpe
   of its PnL days ``i+1 .. i+H`` (the environment's reward window), and the news vector is the
   environment's observation (mean embedding of the texts available on ``dates[i-k] <= d < dates[i]``).
3. One 20-day Sharpe is mostly noise (its standard error is about ``sqrt(252 / 20) = 3.5``), so the
   conditional payoff ``E[payoff_e | news]`` is estimated by averaging each candidate's payoffs over the
   ``neighbours`` train dates whose news vectors are most similar (cosine of the centred vectors), a
   nearest-neighbour regression. Dates whose reward windows overlap the date's own are left out, so a
   date's estimate never contains its own payoff.
4. The decoder is fine-tuned by teacher forcing on pairs ``(news of date i, one of the top_k candidates
   of date i by estimated payoff)`` (:func:`encoders.pretrain_decoder` with documents).

Nothing after a decision date's reward window, and nothing outside the train split, is used. With
news that carry no information about payoffs (e.g. shuffled across dates) the neighbours are arbitrary
dates, every date gets roughly the same targets, and the stage teaches an unconditional prior: the
control the document experiment compares against.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alpha_env.errors import SettingsError

__all__ = ["HindsightSettings", "HindsightTargets", "window_sharpes", "neighbour_means",
           "build_hindsight_targets", "hindsight_finetune", "train_decisions", "run_hindsight_stage"]

TRADING_DAYS = 252


@dataclass(frozen=True)
class HindsightSettings:
    """Settings of the hindsight document stage.

    Attributes:
        corpus_size: candidate expressions from ``alpha_env.grammar.build_corpus`` (before negations).
        corpus_max_len: most tokens per candidate (the actor's environments write up to 15).
        negations: also try ``-1 * e`` for every candidate (the sign of a signal is what news often flip).
        neighbours: train dates averaged per date in the payoff estimate (>= 1; 1 = no smoothing).
        top_k: targets per decision date.
        epochs, batch_size, lr: teacher-forcing optimization (AdamW, slanted triangular schedule).
        seed: seeds the corpus and the training.
    """

    corpus_size: int = 300
    corpus_max_len: int = 15
    negations: bool = True
    neighbours: int = 40
    top_k: int = 3
    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("corpus_size", "corpus_max_len", "neighbours", "top_k", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(f"hindsight {name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise SettingsError(f"hindsight lr must be a positive number, got {self.lr!r}")

    @classmethod
    def quick(cls, **overrides: Any) -> HindsightSettings:
        """A tiny configuration for tests (seconds)."""
        return cls(**{**dict(corpus_size=30, neighbours=5, top_k=2, epochs=1), **overrides})


@dataclass
class HindsightTargets:
    """Candidates, their per-date payoffs and the chosen targets.

    Attributes:
        expressions: canonical texts of the ``n`` candidates that simulated without error.
        decisions: ``(m,)`` panel indices of the train decision dates.
        docs: ``(m, dim)`` float32 news vectors shown on those dates.
        payoffs: ``(n, m)`` window Sharpe of each candidate after each date (-1 where undefined).
        estimated: ``(n, m)`` nearest-neighbour estimate of the payoff given the date's news.
        targets: ``(m, top_k)`` indices into ``expressions``, best estimated payoff first.
        seconds: wall time of the simulations and estimates.
    """

    expressions: list[str]
    decisions: np.ndarray
    docs: np.ndarray
    payoffs: np.ndarray
    estimated: np.ndarray
    targets: np.ndarray
    seconds: float = 0.0


def window_sharpes(pnl: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Annualized Sharpe (``sqrt(252)·mean/std``, ddof 1) of ``pnl[:, s : s + horizon]`` for every start.

    Args:
        pnl: ``(n, T)`` daily PnL (fraction of the book); NaN days count as 0.
        starts: ``(m,)`` first PnL day of each window (``start + horizon <= T``).
        horizon: days per window (>= 2).

    Returns:
        ``(n, m)`` float64; -1.0 where the window's PnL is constant (no book held), as the environment pays
        a degenerate window.
    """
    if horizon < 2:
        raise SettingsError(f"horizon must be >= 2 days, got {horizon}")
    p = np.nan_to_num(np.asarray(pnl, dtype=np.float64))
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size and (starts.min() < 0 or starts.max() + horizon > p.shape[1]):
        raise SettingsError(f"windows of {horizon} days starting at {starts.min()}..{starts.max()} leave the "
                            f"{p.shape[1]} PnL days")
    c1 = np.concatenate([np.zeros((p.shape[0], 1)), np.cumsum(p, axis=1)], axis=1)
    c2 = np.concatenate([np.zeros((p.shape[0], 1)), np.cumsum(p * p, axis=1)], axis=1)
    s1 = c1[:, starts + horizon] - c1[:, starts]
    s2 = c2[:, starts + horizon] - c2[:, starts]
    mean = s1 / horizon
    var = np.maximum(s2 - s1 * mean, 0.0) / (horizon - 1)
    sd = np.sqrt(var)
    scale = np.maximum(np.abs(mean), 1e-12)
    ok = sd > 1e-9 * scale
    out = np.full(s1.shape, -1.0)
    out[ok] = math.sqrt(TRADING_DAYS) * mean[ok] / sd[ok]
    return out


def neighbour_means(values: np.ndarray, docs: np.ndarray, k: int, *, positions: np.ndarray | None = None,
                    gap: int = 0) -> np.ndarray:
    """Average ``values[:, j]`` over the ``k`` dates ``j`` whose documents are nearest to each date's.

    Args:
        values: ``(n, m)`` per-candidate, per-date values.
        docs: ``(m, dim)`` document vectors; similarity is the cosine of the vectors centred on their mean.
        k: neighbours per date (capped at the number of admissible dates).
        positions, gap: with ``positions`` (``(m,)`` date indices), dates closer than ``gap`` days to the
            date itself are never its neighbours (their reward windows overlap its own, so they would leak
            its payoff into its estimate); the date itself is always excluded then.

    Returns:
        ``(n, m)`` float64.
    """
    m = docs.shape[0]
    if values.shape[1] != m:
        raise SettingsError(f"values have {values.shape[1]} dates but docs {m}")
    centred = docs - docs.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    unit = centred / np.where(norms > 0, norms, 1.0)
    sim = unit @ unit.T
    if positions is not None:
        pos = np.asarray(positions, dtype=np.int64)
        sim[np.abs(pos[:, None] - pos[None, :]) < max(1, gap)] = -np.inf
    admissible = int(np.isfinite(sim).sum(axis=1).min()) if positions is not None else m
    if admissible < 1:
        raise SettingsError(f"no date is at least {gap} days from every other: no neighbours to average")
    k = min(max(1, int(k)), admissible)
    nearest = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # (m, k)
    weights = np.zeros((m, m))
    np.put_along_axis(weights, nearest, 1.0 / k, axis=1)
    return values @ weights.T


def build_hindsight_targets(
    ace: Any,
    table: Any,
    decisions: np.ndarray,
    *,
    horizon: int,
    doc_days: int,
    settings: HindsightSettings | None = None,
    candidates: Sequence[str] | None = None,
) -> HindsightTargets:
    """Simulate the candidates and choose each train decision date's targets (see the module text).

    Args:
        ace: an ``alpha_env.ace.ACE`` over the panel whose train split holds ``decisions`` and their
            reward windows.
        table: the :class:`alpha_env.env.embeddings.EmbeddingTable` the environment shows.
        decisions: ``(m,)`` panel indices of decision dates; each needs ``i + horizon`` inside the train
            split (an error otherwise: no date outside it is ever read).
        horizon, doc_days: the environment's reward window and news window, in trading days.
        settings: see :class:`HindsightSettings`.
        candidates: expressions to try instead of the corpus (negations are still added when set).
    """
    from alpha_env.errors import AlphaEnvError
    from alpha_env.grammar import Codebook, build_corpus, canonical, parse

    settings = settings or HindsightSettings()
    started = time.perf_counter()
    panel = ace.panel
    train = panel.splits["train"]
    decisions = np.asarray(decisions, dtype=np.int64)
    lo, hi = (train.start or 0) + doc_days, train.stop - horizon - 1
    if decisions.size == 0 or decisions.min() < lo or decisions.max() > hi:
        raise SettingsError(f"decision indices must lie in {lo}..{hi} (train split with room for "
                            f"doc_days={doc_days} and horizon={horizon})")
    if candidates is None:
        pool = [canonical(e) for e in build_corpus(Codebook.default(), size=settings.corpus_size,
                                                   max_len=settings.corpus_max_len, seed=settings.seed)]
    else:
        pool = [canonical(parse(e)) for e in candidates]
    if settings.negations:
        pool = pool + [canonical(parse(f"-1 * ({e})")) for e in pool]
    pool = list(dict.fromkeys(pool))
    book = Codebook.default()
    expressions, pnls = [], []
    for text in pool:
        if len(book.encode(parse(text))) > settings.corpus_max_len:
            continue
        try:
            result = ace.simulate(text, save=False)
        except AlphaEnvError:
            continue
        expressions.append(text)
        pnls.append(result.pnl)
    if not expressions:
        raise SettingsError("no candidate expression could be simulated on this panel")
    payoffs = window_sharpes(np.stack(pnls), decisions + 1, horizon)
    dates = panel.dates
    docs = np.stack([table.window_mean(dates[i - doc_days], dates[i])[0] for i in decisions])
    docs = docs.astype(np.float32)
    estimated = neighbour_means(payoffs, docs.astype(np.float64), settings.neighbours, positions=decisions,
                                gap=horizon)
    top_k = min(settings.top_k, len(expressions))
    targets = np.argsort(-estimated, axis=0, kind="stable")[:top_k].T
    return HindsightTargets(expressions=expressions, decisions=decisions, docs=docs, payoffs=payoffs,
                            estimated=estimated, targets=targets, seconds=time.perf_counter() - started)


def hindsight_finetune(decoder: Any, codebook: Any, targets: HindsightTargets,
                       settings: HindsightSettings | None = None, text_encoder: Any = None) -> Any:
    """Fine-tune ``decoder`` in place on ``(news, target expression)`` pairs; returns the history.

    With ``text_encoder`` (an :class:`encoders.doc_finetune.TrainableTextEncoder`, the
    ``--finetune-doc-encoder`` option) the news of each decision date are embedded from its texts with
    gradients, and the encoder's top layer groups train with the decoder (their ``lr_scale``; gradual
    unfreezing after every step).

    Raises:
        SettingsError: when the decoder's ``doc_dim`` differs from the news vectors' width.
    """
    from alpha_env.grammar import parse
    from encoders import pretrain_decoder

    settings = settings or HindsightSettings()
    if decoder.config.doc_dim != targets.docs.shape[1]:
        raise SettingsError(f"the decoder reads {decoder.config.doc_dim}-wide documents but the news vectors "
                            f"are {targets.docs.shape[1]} wide")
    encoded = [codebook.encode(parse(e)) for e in targets.expressions]
    rows = [(d, int(e)) for d in range(targets.targets.shape[0]) for e in targets.targets[d]]
    sequences = [encoded[e] for _, e in rows]
    docs = targets.docs[[d for d, _ in rows]]
    if text_encoder is None:
        return pretrain_decoder(decoder, sequences, docs=docs, epochs=settings.epochs,
                                batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed)
    import torch

    if text_encoder.hidden_size != decoder.config.doc_dim:
        raise SettingsError(f"the document encoder is {text_encoder.hidden_size} wide, the decoder reads "
                            f"{decoder.config.doc_dim}-wide documents")
    keys = torch.as_tensor(targets.decisions[[d for d, _ in rows]], dtype=torch.long)
    return pretrain_decoder(decoder, sequences, docs=lambda batch: text_encoder(keys[batch]),
                            epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                            seed=settings.seed, extra_groups=text_encoder.param_groups(),
                            on_step=text_encoder.after_update)


def train_decisions(panel: Any, *, horizon: int, doc_days: int, warmup: int = 60) -> np.ndarray:
    """Every train-split decision index the environment could draw: ``max(doc_days, warmup)`` days of
    history before it and its ``horizon`` reward days inside the split (``(m,)`` int64)."""
    train = panel.splits["train"]
    lo, hi = (train.start or 0) + max(doc_days, warmup), train.stop - horizon - 1
    if hi < lo:
        raise SettingsError(f"the train split is too short for doc_days={doc_days}, warmup={warmup} and "
                            f"horizon={horizon}")
    return np.arange(lo, hi + 1, dtype=np.int64)


def run_hindsight_stage(checkpoint: Any, out: Any, ace: Any, table: Any, *, horizon: int, doc_days: int,
                        settings: HindsightSettings | None = None,
                        text_encoder: Any = None) -> dict[str, Any]:
    """The whole stage: targets on every train decision date, fine-tune the actor in ``checkpoint``, save
    it to ``out`` (with a summary in the checkpoint's ``extra``). Returns that summary.

    Args:
        checkpoint: stage-1 ``alpha_decoder`` checkpoint (path); out: where the new checkpoint goes.
        ace: ``alpha_env.ace.ACE`` of the training panel (its settings are the reward's).
        table: the environment's :class:`~alpha_env.env.embeddings.EmbeddingTable` (or anything
            ``EmbeddingTable.coerce`` accepts).
        horizon, doc_days: the environment's reward and news windows (trading days).
        text_encoder: with ``--finetune-doc-encoder``, the trainable document encoder (see
            :func:`hindsight_finetune`; trained in place, to be attached to the PPO policy next).
    """
    from pathlib import Path

    from alpha_env.env.embeddings import EmbeddingTable
    from alpha_env.grammar import Codebook
    from encoders import load_checkpoint, save_checkpoint

    settings = settings or HindsightSettings()
    started = time.perf_counter()
    table = EmbeddingTable.coerce(table)
    decisions = train_decisions(ace.panel, horizon=horizon, doc_days=doc_days)
    targets = build_hindsight_targets(ace, table, decisions, horizon=horizon, doc_days=doc_days,
                                      settings=settings)
    codebook = Codebook.default()
    decoder = load_checkpoint(checkpoint, codebook, kind="alpha_decoder").model
    history = hindsight_finetune(decoder, codebook, targets, settings, text_encoder=text_encoder)
    m = np.arange(targets.decisions.size)
    summary = {
        "candidates": len(targets.expressions), "decision_dates": int(targets.decisions.size),
        "distinct_first_targets": len(set(targets.targets[:, 0].tolist())),
        "first_target_payoff": float(targets.payoffs[targets.targets[:, 0], m].mean()),
        "best_single_payoff_in_sample": float(targets.payoffs.mean(axis=1).max()),
        "train_loss": [float(v) for v in history.train_loss],
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "seconds": time.perf_counter() - started,
    }
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(decoder, target, extra={"hindsight": summary, "init_checkpoint": str(checkpoint)})
    return summary
