"""Stage 1 for the actor: pretrain the AlphaDecoder on the alpha corpus and judge what it writes.

:func:`pretrain_actor` builds the seeded corpus (``alpha_env.grammar.build_corpus``: the 101 alphas that fit
the length budget, grammar-valid random expressions, mutations and recombinations), holds out a share,
pretrains by teacher forcing (``encoders.pretrain_decoder``), and reports

* the held-out next-token accuracy (every written token and the final END),
* the share of sampled expressions (grammar-masked sampling) that decode to a valid expression, that are
  non-degenerate on a market (ACE simulation), and that are distinct.

The corpus has no documents: the decoder is pretrained unconditioned (null memory only). It is built with
``doc_dim`` equal to the environment's document width so that the same checkpoint serves the
document-conditioned mode, where stage 2 learns the document slots.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from alpha_env.errors import AlphaEnvError, SettingsError

__all__ = ["PretrainSettings", "PretrainReport", "pretrain_actor", "sample_quality"]


@dataclass(frozen=True)
class PretrainSettings:
    """Stage-1 settings (corpus, architecture, optimization).

    Attributes:
        corpus_size: expressions in the corpus (101 alphas that fit + generated ones).
        corpus_max_len: most tokens per corpus expression (short expressions keep the prior cheap to
            evaluate; the main job's environments write up to 15 tokens).
        holdout: share of the corpus held out for the accuracy report.
        max_len: the decoder's longest expression (environments may use up to this many tokens).
        d_model, num_layers, num_heads, ff_size, dropout: decoder size.
        doc_dim: document-vector width the decoder accepts (the environment's ``document`` size).
        epochs, batch_size, lr, weight_decay: AdamW with a slanted triangular schedule.
        n_samples: expressions sampled for the validity report.
        seed: seeds the corpus, the initialization, the training and the samples.
    """

    corpus_size: int = 4000
    corpus_max_len: int = 15
    holdout: float = 0.1
    max_len: int = 32
    d_model: int = 64
    num_layers: int = 2
    num_heads: int = 4
    ff_size: int = 128
    dropout: float = 0.1
    doc_dim: int = 384
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    n_samples: int = 200
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> PretrainSettings:
        """A tiny configuration for tests (seconds)."""
        base = dict(corpus_size=300, epochs=2, d_model=32, num_layers=2, num_heads=2, ff_size=64,
                    n_samples=20)
        return cls(**{**base, **overrides})


@dataclass
class PretrainReport:
    """What stage 1 achieved.

    Attributes:
        corpus_size, train_size, holdout_size: corpus counts.
        train_loss: mean next-token cross-entropy per epoch (nats).
        holdout_accuracy: next-token accuracy on the held-out expressions after the last epoch.
        sample_valid_rate: share of sampled expressions that decode to a valid expression.
        sample_nondegenerate_rate: share that the ACE finds non-degenerate (NaN without an ACE).
        sample_unique_rate: share of distinct canonical texts among the samples.
        examples: a few sampled expressions.
        seconds: wall time of the pretraining.
    """

    corpus_size: int
    train_size: int
    holdout_size: int
    train_loss: list[float] = field(default_factory=list)
    holdout_accuracy: float = float("nan")
    sample_valid_rate: float = float("nan")
    sample_nondegenerate_rate: float = float("nan")
    sample_unique_rate: float = float("nan")
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def nondegenerate_shown(self, digits: int = 1) -> str:
        """The non-degenerate share as a percentage with ``digits`` decimals, or ``"not measured (no
        market given)"`` when it is NaN (pretrained without an ACE): never a printed ``nan%``."""
        rate = self.sample_nondegenerate_rate
        return "not measured (no market given)" if math.isnan(rate) else f"{rate:.{digits}%}"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (stored in the checkpoint's ``extra``)."""
        return asdict(self)


def pretrain_actor(
    codebook: Any,
    settings: PretrainSettings | None = None,
    *,
    ace: Any | None = None,
    show_progress: bool = False,
) -> tuple[Any, PretrainReport]:
    """Build the corpus, pretrain a fresh :class:`encoders.AlphaDecoder`, and report on it.

    Args:
        codebook: the :class:`alpha_env.grammar.Codebook` of the environment.
        settings: see :class:`PretrainSettings`.
        ace: an ``alpha_env.ace.ACE`` to judge sampled expressions (``None``: skip the degeneracy check).
        show_progress: tqdm bar over epochs.

    Returns:
        ``(decoder, report)``; the decoder is in eval mode.
    """
    from alpha_env.grammar import build_corpus
    from encoders import AlphaDecoder, AlphaDecoderConfig, next_token_accuracy, pretrain_decoder

    settings = settings or PretrainSettings()
    if not 0.0 < settings.holdout < 0.5:
        raise SettingsError(f"holdout must be in (0, 0.5), got {settings.holdout}")
    if settings.corpus_max_len > settings.max_len:
        raise SettingsError(
            f"corpus_max_len {settings.corpus_max_len} exceeds the decoder's max_len {settings.max_len}"
        )
    start = time.perf_counter()
    corpus = build_corpus(codebook, size=settings.corpus_size, max_len=settings.corpus_max_len,
                          seed=settings.seed)
    sequences = [codebook.encode(e) for e in corpus]
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(sequences))
    n_hold = max(1, int(round(settings.holdout * len(sequences))))
    hold = [sequences[i] for i in order[:n_hold]]
    train = [sequences[i] for i in order[n_hold:]]
    config = AlphaDecoderConfig.from_codebook(
        codebook, max_len=settings.max_len, d_model=settings.d_model, num_layers=settings.num_layers,
        num_heads=settings.num_heads, ff_size=settings.ff_size, dropout=settings.dropout,
        doc_dim=settings.doc_dim,
    )
    decoder = AlphaDecoder(config, seed=settings.seed)
    history = pretrain_decoder(decoder, train, epochs=settings.epochs, batch_size=settings.batch_size,
                               lr=settings.lr, weight_decay=settings.weight_decay, seed=settings.seed,
                               show_progress=show_progress)
    report = PretrainReport(corpus_size=len(sequences), train_size=len(train), holdout_size=len(hold),
                            train_loss=list(history.train_loss))
    report.holdout_accuracy = next_token_accuracy(decoder, hold)
    quality = sample_quality(decoder, codebook, settings.n_samples, max_len=settings.corpus_max_len,
                             ace=ace, seed=settings.seed)
    report.sample_valid_rate = quality["valid_rate"]
    report.sample_nondegenerate_rate = quality["nondegenerate_rate"]
    report.sample_unique_rate = quality["unique_rate"]
    report.examples = quality["examples"]
    report.seconds = time.perf_counter() - start
    return decoder, report


def sample_quality(
    decoder: Any, codebook: Any, n: int, *, max_len: int, ace: Any | None = None, seed: int = 0
) -> dict[str, Any]:
    """Sample ``n`` expressions with the grammar masks and measure validity, degeneracy and diversity.

    Returns:
        dict with ``valid_rate``, ``nondegenerate_rate`` (NaN without ``ace``), ``unique_rate`` and
        ``examples`` (up to 5 canonical texts).
    """
    from alpha_env.grammar import canonical

    if n < 1:
        raise SettingsError(f"n_samples must be >= 1, got {n}")
    generator = torch.Generator().manual_seed(seed)
    samples = decoder.generate(n, codebook, max_len=max_len, generator=generator)
    texts: list[str] = []
    for ids in samples:
        try:
            texts.append(canonical(codebook.decode(ids)))
        except AlphaEnvError:
            continue
    nondegenerate = float("nan")
    if ace is not None:
        good = 0
        for text in texts:
            try:
                result = ace.simulate(text)
            except AlphaEnvError:
                continue
            good += result.degenerate_reason is None
        nondegenerate = good / n
    return {
        "valid_rate": len(texts) / n,
        "nondegenerate_rate": nondegenerate,
        "unique_rate": len(set(texts)) / n,
        "examples": texts[:5],
    }
