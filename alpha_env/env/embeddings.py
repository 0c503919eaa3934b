"""Document conditioning for :class:`~alpha_env.env.AlphaStackEnv`: a precomputed embedding table and
the episode windows built on it.

The environment never embeds text itself (that needs torch; the ``encoders`` package does it). It reads a
table of vectors indexed by the date each text becomes *available* (the publication date, or the next day
for a text published after the close). :class:`EmbeddingTable` holds that table; :func:`sample_window`
draws one episode's decision date and evaluation window; :func:`hashed_bag_of_words` is a deterministic,
torch-free embedding for tests, baselines and the synthetic news of the embedded market.

Timing of one document-conditioned episode (``i`` is the index of the decision date ``t`` in the panel)::

    texts available on dates d with  dates[i - k] <= d < dates[i]   → observation["document"] (their mean)
    daily PnL of trading days        i + 1 .. i + H                  → reward

so no text of the decision date itself or later is shown, and no return on or before ``t`` (or after
``t + H``) enters the reward.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alpha_env.errors import DataError, SettingsError

__all__ = [
    "EmbeddingTable",
    "EpisodeWindow",
    "sample_window",
    "hashed_bag_of_words",
    "hashed_bags_of_words",
    "embed_texts",
    "embed_document_store",
    "daily_news_vectors",
]

_WORD = re.compile(r"[a-z][a-z0-9']*")


def _to_day(value: Any) -> np.datetime64:
    """One date-like value → ``datetime64[D]`` (times of day are dropped)."""
    try:
        return np.datetime64(pd.Timestamp(value).to_datetime64(), "D")
    except (TypeError, ValueError) as exc:
        raise DataError(f"embedding table: cannot read {value!r} as a date") from exc


class EmbeddingTable:
    """Precomputed document embeddings indexed by the date each text becomes available.

    Build it from a ``pandas.DataFrame`` (one row per text or per day, the index holding the dates, the
    columns the vector components) with :meth:`from_frame`, or from a mapping ``date → vector`` (shape
    ``(dim,)``, one vector for the day) or ``date → matrix`` (shape ``(m, dim)``, one row per text) with
    :meth:`from_mapping`. :meth:`window_mean` averages every text of a date range in O(log M) from
    cumulative sums.

    Attributes:
        dates: ``(M,)`` ``datetime64[D]``, sorted, one entry per text (dates repeat).
        vectors: ``(M, dim)`` float64, the embeddings in the order of ``dates``.
        low, high: ``(dim,)`` float32 component-wise minimum / maximum over all vectors and 0 (the bounds
            of every window mean, and of the zero vector shown when a window holds no text).
    """

    def __init__(self, dates: np.ndarray, vectors: np.ndarray):
        dates = np.asarray(dates).astype("datetime64[D]")
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != dates.shape[0]:
            raise DataError(
                f"embedding table: {dates.shape[0]} dates but vectors of shape {vectors.shape}; "
                "expected one (dim,) row per date"
            )
        if vectors.shape[1] == 0:
            raise DataError("embedding table: vectors have dimension 0")
        if np.isnat(dates).any():
            raise DataError(f"embedding table: row {int(np.flatnonzero(np.isnat(dates))[0])} has no date")
        bad = ~np.isfinite(vectors).all(axis=1)
        if bad.any():
            raise DataError(
                f"embedding table: row {int(np.flatnonzero(bad)[0])} (date {dates[bad][0]}) has a non-finite "
                "component"
            )
        order = np.argsort(dates, kind="stable")
        self.dates = dates[order]
        self.vectors = vectors[order]
        self.dates.setflags(write=False)
        self.vectors.setflags(write=False)
        self._cumsum = np.vstack([np.zeros((1, vectors.shape[1])), np.cumsum(self.vectors, axis=0)])
        low = self.vectors.min(axis=0, initial=0.0)
        high = self.vectors.max(axis=0, initial=0.0)
        low32, high32 = low.astype(np.float32), high.astype(np.float32)  # rounded outward below
        self.low = np.where(low32 > low, np.nextafter(low32, np.float32(-np.inf)), low32)
        self.high = np.where(high32 < high, np.nextafter(high32, np.float32(np.inf)), high32)

    @property
    def dim(self) -> int:
        """Length of each embedding vector."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.dates.shape[0])

    @classmethod
    def from_frame(cls, frame: Any, date_column: str | None = None) -> EmbeddingTable:
        """A table from a DataFrame: dates in the index (or in ``date_column``), vector components in
        the other (numeric) columns. Rows may share a date (one row per text)."""
        if date_column is not None:
            if date_column not in frame.columns:
                raise DataError(
                    f"embedding table: no column {date_column!r} (columns: {list(frame.columns)})")
            dates = frame[date_column].to_numpy()
            frame = frame.drop(columns=[date_column])
        else:
            dates = frame.index.to_numpy()
        non_numeric = [c for c in frame.columns if not np.issubdtype(frame[c].dtype, np.number)]
        if non_numeric:
            raise DataError(f"embedding table: column {non_numeric[0]!r} is not numeric")
        try:
            day_dates = np.asarray(dates).astype("datetime64[D]")
        except (TypeError, ValueError) as exc:
            raise DataError(f"embedding table: the index/date column cannot be read as dates: {exc}") from exc
        return cls(day_dates, frame.to_numpy(dtype=np.float64))

    @classmethod
    def from_mapping(cls, mapping: Mapping[Any, Any]) -> EmbeddingTable:
        """A table from ``{date: vector (dim,)}`` or ``{date: matrix (m, dim)}``."""
        dates: list[np.datetime64] = []
        rows: list[np.ndarray] = []
        dim: int | None = None
        for key, value in mapping.items():
            day = _to_day(key)
            arr = np.atleast_2d(np.asarray(value, dtype=np.float64))
            if arr.ndim != 2:
                raise DataError(f"embedding table: the value for {day} has shape {np.shape(value)}")
            if dim is None:
                dim = arr.shape[1]
            elif arr.shape[1] != dim:
                raise DataError(
                    f"embedding table: the vector for {day} has dimension {arr.shape[1]}, not {dim}")
            dates.extend([day] * arr.shape[0])
            rows.append(arr)
        if not rows:
            raise DataError("embedding table: the mapping is empty")
        return cls(np.array(dates, dtype="datetime64[D]"), np.vstack(rows))

    @classmethod
    def coerce(cls, table: Any) -> EmbeddingTable:
        """Accept an :class:`EmbeddingTable`, a DataFrame or a mapping."""
        if isinstance(table, EmbeddingTable):
            return table
        if isinstance(table, Mapping):
            return cls.from_mapping(table)
        if hasattr(table, "index") and hasattr(table, "columns"):
            return cls.from_frame(table)
        raise SettingsError(
            f"document_embeddings must be an EmbeddingTable, a pandas DataFrame or a mapping date → vector, "
            f"not {type(table).__name__}"
        )

    def window_mean(self, start: np.datetime64, stop: np.datetime64) -> tuple[np.ndarray, int]:
        """Mean embedding of the texts available on dates ``start <= d < stop``.

        Returns:
            ``(vector (dim,) float64, count)``; the zero vector and 0 when the window holds no text.
        """
        lo = int(np.searchsorted(self.dates, np.datetime64(start, "D"), side="left"))
        hi = int(np.searchsorted(self.dates, np.datetime64(stop, "D"), side="left"))
        count = hi - lo
        if count <= 0:
            return np.zeros(self.dim), 0
        return (self._cumsum[hi] - self._cumsum[lo]) / count, count

    def latest_date_before(self, stop: np.datetime64) -> np.datetime64 | None:
        """The latest availability date strictly before ``stop`` (``None`` if there is none)."""
        hi = int(np.searchsorted(self.dates, np.datetime64(stop, "D"), side="left"))
        return self.dates[hi - 1] if hi > 0 else None


@dataclass(frozen=True)
class EpisodeWindow:
    """The dates of one document-conditioned episode (indices into the panel's dates).

    Attributes:
        decision: index ``i`` of the decision date ``t``.
        doc_start: first index whose date opens the document window (``i - k``); texts available on dates
            ``dates[doc_start] <= d < dates[decision]`` are shown.
        reward_start, reward_stop: the reward's PnL days are ``reward_start .. reward_stop - 1``
            (``i + 1 .. i + H``).
    """

    decision: int
    doc_start: int
    reward_start: int
    reward_stop: int

    @property
    def reward_slice(self) -> slice:
        """Slice of the daily PnL array that the reward reads."""
        return slice(self.reward_start, self.reward_stop)


def sample_window(
    rng: np.random.Generator, split: slice, *, doc_days: int, horizon: int, warmup: int = 0
) -> EpisodeWindow:
    """Draw one decision date uniformly inside ``split`` with room for the windows.

    The decision index ``i`` satisfies ``i - max(doc_days, warmup) >= split.start`` and
    ``i + horizon < split.stop``, so both the document window and the ``horizon`` PnL days after ``t``
    lie inside the split.

    Args:
        rng: the environment's ``np_random`` (the only source of randomness).
        split: date-index slice of the panel (the train split).
        doc_days: ``k``, number of trading days of news shown (>= 1).
        horizon: ``H``, number of trading days of PnL in the reward (>= 2).
        warmup: trading days of history kept before ``t`` (look-backs of the alpha).
    """
    if doc_days < 1:
        raise SettingsError(f"doc_days must be >= 1, got {doc_days}")
    if horizon < 2:
        raise SettingsError(f"horizon must be >= 2 trading days (a Sharpe needs two PnL days), got {horizon}")
    start, stop = split.start or 0, split.stop
    low = start + max(doc_days, warmup)
    high = stop - horizon - 1  # inclusive: i + horizon <= stop - 1
    if high < low:
        raise SettingsError(
            f"the train split ({stop - start} days) is too short for doc_days={doc_days}, "
            f"warmup={warmup} and horizon={horizon}: it needs at least "
            f"{max(doc_days, warmup) + horizon + 1} days"
        )
    i = int(rng.integers(low, high + 1))
    return EpisodeWindow(decision=i, doc_start=i - doc_days, reward_start=i + 1, reward_stop=i + 1 + horizon)


def hashed_bag_of_words(text: str, dim: int) -> np.ndarray:
    """A deterministic, torch-free text embedding: signed feature hashing of lower-case words.

    Each word adds ±1 to the component chosen by its BLAKE2 hash (stable across processes, unlike
    ``hash()``); the vector is L2-normalised (the zero vector for a text without words).

    Returns:
        ``(dim,)`` float64 with components in [-1, 1].
    """
    return hashed_bags_of_words([text], dim)[0]


def hashed_bags_of_words(texts: Iterable[str], dim: int) -> np.ndarray:
    """:func:`hashed_bag_of_words` of many texts at once, the same bits row by row.

    Each distinct word is hashed once per call (a news corpus repeats its words: 106,520 Reuters texts
    hold 10.9 million words). Every component is a sum of ±1 and every squared norm a sum of squares of
    small integers, exact in any order, so the rows equal the one-text function's bit for bit.

    Returns:
        ``(n, dim)`` float64, one L2-normalised row per text (zero rows for texts without words).
    """
    if dim < 1:
        raise SettingsError(f"dim must be >= 1, got {dim}")
    slots: dict[str, int] = {}  # word -> 2 * component + (1 when it adds +1)
    codes: list[int] = []
    lengths: list[int] = []
    for text in texts:
        words = _WORD.findall(text.lower())
        for word in words:
            code = slots.get(word)
            if code is None:
                digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                code = slots[word] = 2 * (digest % dim) + ((digest >> 63) & 1)
            codes.append(code)
        lengths.append(len(words))
    n = len(lengths)
    c = np.asarray(codes, dtype=np.int64)
    cell = np.repeat(np.arange(n, dtype=np.int64) * dim, lengths) + (c >> 1)  # row * dim + component
    out = np.bincount(cell, weights=2.0 * (c & 1) - 1.0, minlength=n * dim).reshape(n, dim)
    out = out.astype(np.float64, copy=False)  # bincount of nothing is int64
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    nonzero = norms > 0
    out[nonzero] /= norms[nonzero, None]
    return out


def embed_texts(dates: Iterable[Any], texts: Iterable[str], dim: int = 64) -> EmbeddingTable:
    """An :class:`EmbeddingTable` of :func:`hashed_bag_of_words` vectors, one row per text.

    ``dates`` must be the dates the texts become available (never earlier than their publication).
    """
    day_list = [_to_day(d) for d in dates]
    vectors = hashed_bags_of_words([str(t) for t in texts], dim)
    if len(day_list) != len(vectors):
        raise DataError(f"embed_texts: {len(day_list)} dates but {len(vectors)} texts")
    if not len(vectors):
        raise DataError("embed_texts: no texts")
    return EmbeddingTable(np.array(day_list, dtype="datetime64[D]"), vectors)


def embed_document_store(
    documents: Any, dim: int = 64, *, embed: Callable[[list[str]], np.ndarray] | None = None
) -> EmbeddingTable:
    """Embeddings of an aligned :class:`~alpha_env.data.DocumentStore`, one row per available text.

    Each text (``"title. body"``) is indexed by its ``available_date`` (the first trading date whose
    decision time follows its publication); texts published after the panel's last close are dropped.

    Args:
        documents: the store.
        dim: size of the hashed bag-of-words vectors (used only without ``embed``).
        embed: texts → ``(n, d)`` matrix, e.g. ``encoders.DocumentEncoder(...).encode`` (the caller imports
            it: this module stays torch-free); ``None``: :func:`hashed_bag_of_words`.

    Raises:
        DataError: no text falls inside the panel's dates, or ``embed`` returns another number of rows.
    """
    avail = np.asarray(documents.available_dates, dtype="datetime64[D]")
    keep = np.flatnonzero(~np.isnat(avail))
    if keep.size == 0:
        raise DataError("embed_document_store: no text is available inside the panel's dates")
    texts = [documents.text(int(k)) for k in keep]
    if embed is None:
        vectors = hashed_bags_of_words(texts, dim)
    else:
        vectors = np.asarray(embed(texts), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise DataError(
                f"embed_document_store: the embedder returned shape {vectors.shape} for {len(texts)} texts"
            )
    return EmbeddingTable(avail[keep], vectors)


def daily_news_vectors(table: EmbeddingTable, dates: Any, days: int) -> np.ndarray:
    """Per signal day, the mean embedding of the texts available on that day and the ``days - 1``
    trading days before (a text counts from its availability date, so nothing published after the close
    of day ``t`` enters row ``t``).

    Args:
        table: the embeddings, indexed by availability date (e.g. :func:`embed_document_store`).
        dates: ``(T,)`` the panel's trading dates.
        days: trading days per window (>= 1).

    Returns:
        ``(T, table.dim)`` float64; a row of NaN where the window holds no text.
    """
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise SettingsError(f"news window must be a whole number of days >= 1, got {days!r}")
    cal = np.asarray(dates).astype("datetime64[D]")
    out = np.full((cal.size, table.dim), np.nan)
    one = np.timedelta64(1, "D")
    for t in range(cal.size):
        vector, count = table.window_mean(cal[max(0, t - int(days) + 1)], cal[t] + one)
        if count:
            out[t] = vector
    return out
