"""Dated texts (news) and their point-in-time alignment with trading dates.

Timing rule: decisions are taken at the market close, ``decision_time`` (default ``"16:00"``) in
``timezone`` (default ``"America/New_York"``) of each trading date. A text published at instant ``p`` is
usable from the first decision time ``>= p``; that trading date is its ``available_date``. A text
published after the last date's close has no available date (``NaT``) inside the panel.

``documents_before(t, lookback_days)`` returns the texts with ``published <= cutoff`` and
``published > cutoff - lookback_days`` where ``cutoff`` is the decision time of trading date ``t``
(or ``t`` itself when ``t`` is a time-zone-aware timestamp), so it never returns a later text.

Per-stock daily field: ``news_count[t, i]`` = number of texts citing ticker ``i`` whose available date is
``dates[t]`` (i.e. published after the previous close and at or before this close); NaN where the stock has
no close (not listed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alpha_env.data.io import read_table
from alpha_env.errors import DataError

__all__ = ["Document", "DocumentStore", "load_news", "parse_published", "TZ_ABBREVIATIONS"]

#: UTC offsets (hours) of the zone abbreviations accepted in ``published`` strings.
TZ_ABBREVIATIONS: dict[str, int] = {
    "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "BST": 1, "CET": 1, "CEST": 2, "JST": 9, "HKT": 8,
}
_NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class Document:
    """One text.

    Attributes:
        published: publication instant (UTC, tz-aware ``pd.Timestamp``).
        title: headline ("" when missing).
        body: lead or body text ("" when missing).
        tickers: tickers the text cites.
        available_date: first trading date whose decision time follows publication (None if unaligned
            or after the last date).
    """

    published: pd.Timestamp
    title: str
    body: str
    tickers: tuple[str, ...]
    available_date: np.datetime64 | None


def parse_published(values: pd.Series, source: str = "news") -> np.ndarray:
    """Parse publication stamps to UTC ``datetime64[ns]`` (NaT where missing).

    Accepts tz-aware datetimes, ISO-8601 strings with an offset, and strings ending with a zone
    abbreviation of :data:`TZ_ABBREVIATIONS` such as ``"Fri Oct 20, 2006 4:25pm EDT"``. A naive stamp
    without a zone is rejected (its instant would be a guess).

    Raises:
        DataError: unparsable stamps or unknown zones, naming the first rows.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    if pd.api.types.is_datetime64_dtype(values):
        raise DataError(f"{source}: column 'published' has no time zone; give tz-aware stamps")
    text = values.astype("string").str.strip()
    missing = text.isna().to_numpy() | (text == "").fillna(True).to_numpy()
    out = np.full(len(values), np.datetime64("NaT", "ns"))
    parts = text.str.rpartition(" ")
    zone = parts[2].where(parts[2].str.fullmatch(r"[A-Za-z]{1,5}").fillna(False).astype(bool))
    has_abbr = zone.notna().to_numpy() & ~missing
    bad = np.zeros(len(values), dtype=bool)
    if has_abbr.any():
        zones = zone[has_abbr]
        offsets = zones.str.upper().map(TZ_ABBREVIATIONS)
        unknown = offsets.isna().to_numpy()
        idx_abbr = np.flatnonzero(has_abbr)
        bad[idx_abbr[unknown]] = True
        stamps = parts[0][has_abbr]
        local = pd.to_datetime(stamps, errors="coerce", format="%a %b %d, %Y %I:%M%p")
        if local.isna().any():
            retry = pd.to_datetime(stamps[local.isna()], errors="coerce", format="mixed")
            local = local.where(local.notna(), retry)
        utc = local - pd.to_timedelta(offsets.fillna(0).astype(float), unit="h")
        ok = utc.notna().to_numpy() & ~unknown
        out[idx_abbr[ok]] = utc.to_numpy(dtype="datetime64[ns]")[ok]
        bad[idx_abbr[~utc.notna().to_numpy()]] = True
    rest = ~has_abbr & ~missing
    if rest.any():
        parsed = pd.to_datetime(text[rest], errors="coerce", utc=True, format="ISO8601")
        has_zone = text[rest].str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).fillna(False).to_numpy()
        vals = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        good = ~np.isnat(vals) & has_zone
        idx_rest = np.flatnonzero(rest)
        out[idx_rest[good]] = vals[good]
        bad[idx_rest[~good]] = True
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(f"{int(r)} ({values.iloc[r]!r})" for r in rows[:5])
        raise DataError(f"{source}: column 'published': {rows.size} stamp(s) without a parsable time and "
                        f"zone at rows {shown}")
    return out


def _split_tickers(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    if isinstance(value, str):
        return tuple(t for t in value.replace(",", " ").split() if t)
    return tuple(str(t) for t in value)


class DocumentStore:
    """Dated texts sorted by publication instant, optionally aligned to a trading calendar.

    Args:
        published: ``(D,)`` UTC instants (``datetime64[ns]`` or tz-aware values).
        titles, bodies: ``(D,)`` strings.
        tickers: ``(D,)`` sequences of cited tickers (or space-separated strings).
        decision_time: ``"HH:MM"`` local time of decisions (market close).
        timezone: IANA zone of ``decision_time``.
        calendar: trading dates to align to (``(T,)`` datetime64[D]); ``None``: not aligned yet.
    """

    def __init__(
        self,
        published: Any,
        titles: Sequence[str],
        bodies: Sequence[str] | None = None,
        tickers: Sequence[Any] | None = None,
        *,
        decision_time: str = "16:00",
        timezone: str = "America/New_York",
        calendar: Any = None,
    ) -> None:
        pub = pd.DatetimeIndex(published)
        pub = pub.tz_convert("UTC").tz_localize(None) if pub.tz is not None else pub
        pub_ns = pub.to_numpy(dtype="datetime64[ns]")
        n = pub_ns.size
        if np.isnat(pub_ns).any():
            raise DataError("DocumentStore: every document needs a publication instant")
        titles = ["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in titles]
        bodies_l = ([""] * n if bodies is None else
                    ["" if b is None or (isinstance(b, float) and np.isnan(b)) else str(b) for b in bodies])
        tick_l = [()] * n if tickers is None else [_split_tickers(t) for t in tickers]
        if not (len(titles) == len(bodies_l) == len(tick_l) == n):
            raise DataError("DocumentStore: published, titles, bodies and tickers differ in length")
        try:
            hh, mm = (int(x) for x in decision_time.split(":"))
            self._decision_offset = np.timedelta64(hh * 60 + mm, "m")
        except ValueError:
            raise DataError(f"decision_time must be 'HH:MM', got {decision_time!r}") from None
        order = np.argsort(pub_ns, kind="stable")
        self._published = pub_ns[order]
        self._published.flags.writeable = False
        self._titles = np.array(titles, dtype=object)[order]
        self._bodies = np.array(bodies_l, dtype=object)[order]
        tick_arr = np.empty(n, dtype=object)
        tick_arr[:] = tick_l
        self._tickers = tick_arr[order]
        self.decision_time = decision_time
        self.timezone = timezone
        self._calendar: np.ndarray | None = None
        self._decisions: np.ndarray | None = None
        self._avail_idx: np.ndarray | None = None
        #: Facts about the source (e.g. ``published_fallback``: rows dated from ``date``).
        self.info: dict[str, Any] = {}
        if calendar is not None:
            self._align_inplace(np.asarray(calendar, dtype="datetime64[D]"))

    # -- alignment -------------------------------------------------------------------------------------
    def decision_instants(self, dates: Any) -> np.ndarray:
        """UTC ``datetime64[ns]`` decision instants (close) of trading ``dates``."""
        d = np.asarray(dates, dtype="datetime64[D]")
        local = pd.DatetimeIndex(d.astype("datetime64[ns]") + self._decision_offset)
        return local.tz_localize(self.timezone).tz_convert("UTC").tz_localize(None).to_numpy(
            dtype="datetime64[ns]")

    def _align_inplace(self, calendar: np.ndarray) -> None:
        self._calendar = calendar.copy()
        self._calendar.flags.writeable = False
        self._decisions = self.decision_instants(calendar)
        idx = np.searchsorted(self._decisions, self._published, side="left").astype(np.int64)
        idx[idx >= calendar.size] = -1
        idx.flags.writeable = False
        self._avail_idx = idx

    def aligned(self, calendar: Any) -> DocumentStore:
        """A copy aligned to the trading ``calendar`` (``(T,)`` dates)."""
        new = object.__new__(DocumentStore)
        new.__dict__.update(self.__dict__)
        new.info = dict(self.info)
        new._align_inplace(np.asarray(calendar, dtype="datetime64[D]"))
        return new

    def is_aligned_to(self, calendar: Any) -> bool:
        """Whether this store is aligned to exactly ``calendar``."""
        cal = np.asarray(calendar, dtype="datetime64[D]")
        return self._calendar is not None and np.array_equal(self._calendar, cal)

    @property
    def calendar(self) -> np.ndarray | None:
        """The trading dates this store is aligned to, or None."""
        return self._calendar

    # -- access ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._published.size)

    @property
    def published(self) -> np.ndarray:
        """``(D,)`` UTC ``datetime64[ns]`` publication instants, sorted."""
        return self._published

    @property
    def available_index(self) -> np.ndarray:
        """``(D,)`` int64 index into the calendar of each text's available date (-1: none)."""
        if self._avail_idx is None:
            raise DataError("DocumentStore is not aligned to a calendar; use .aligned(dates)")
        return self._avail_idx

    @property
    def available_dates(self) -> np.ndarray:
        """``(D,)`` ``datetime64[D]`` available date of each text (NaT: after the last close)."""
        idx = self.available_index
        out = np.full(idx.size, np.datetime64("NaT"), dtype="datetime64[D]")
        ok = idx >= 0
        out[ok] = self._calendar[idx[ok]]  # type: ignore[index]
        return out

    def document(self, k: int) -> Document:
        """The ``k``-th text (in publication order)."""
        avail = None
        if self._avail_idx is not None and self._avail_idx[k] >= 0:
            avail = self._calendar[self._avail_idx[k]]  # type: ignore[index]
        return Document(pd.Timestamp(self._published[k]).tz_localize("UTC"), self._titles[k],
                        self._bodies[k], self._tickers[k], avail)

    def _cutoff(self, t: Any) -> np.datetime64:
        if isinstance(t, pd.Timestamp | np.datetime64 | str) or hasattr(t, "year"):
            ts = pd.Timestamp(t)
            if ts.tzinfo is not None:
                return ts.tz_convert("UTC").tz_localize(None).to_datetime64().astype("datetime64[ns]")
            if ts != ts.normalize():
                raise DataError(f"ambiguous decision time {t!r}: give a date or a tz-aware timestamp")
            return self.decision_instants(np.array([ts.to_datetime64()], dtype="datetime64[D]"))[0]
        raise DataError(f"cannot read a decision date from {t!r}")

    def indices_before(self, t: Any, lookback_days: float = 1.0) -> np.ndarray:
        """Indices of texts published in ``(cutoff - lookback_days, cutoff]`` (see module doc)."""
        cut = self._cutoff(t)
        start = cut - np.timedelta64(int(round(lookback_days * _NS_PER_DAY)), "ns")
        lo = int(np.searchsorted(self._published, start, side="right"))
        hi = int(np.searchsorted(self._published, cut, side="right"))
        return np.arange(lo, hi)

    def documents_before(self, t: Any, lookback_days: float = 1.0) -> list[Document]:
        """Texts usable at the decision of date ``t`` and published within ``lookback_days`` of it."""
        return [self.document(int(k)) for k in self.indices_before(t, lookback_days)]

    def texts_before(self, t: Any, lookback_days: float = 1.0) -> list[str]:
        """``"title. body"`` strings of :meth:`documents_before` (for encoders)."""
        return [self.text(int(k)) for k in self.indices_before(t, lookback_days)]

    def text(self, k: int) -> str:
        """Title and body of text ``k`` joined by ``". "``."""
        title, body = self._titles[k], self._bodies[k]
        return f"{title}. {body}" if title and body else (title or body)

    def daily_counts(self, tickers: Iterable[str]) -> np.ndarray:
        """``(T, N)`` float64 count of texts citing each ticker by available date (aligned stores only)."""
        idx = self.available_index
        col = {str(t): j for j, t in enumerate(tickers)}
        out = np.zeros((self._calendar.size, len(col)))  # type: ignore[union-attr]
        rows: list[int] = []
        cols: list[int] = []
        for k in np.flatnonzero(idx >= 0):
            for tk in self._tickers[k]:
                j = col.get(tk)
                if j is not None:
                    rows.append(int(idx[k]))
                    cols.append(j)
        np.add.at(out, (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)), 1.0)
        return out

    def frame(self) -> pd.DataFrame:
        """Texts as a DataFrame: ``published`` (UTC), ``title``, ``body``, ``tickers``, ``available_date``."""
        data = {
            "published": pd.DatetimeIndex(self._published).tz_localize("UTC"),
            "title": self._titles, "body": self._bodies,
            "tickers": [" ".join(t) for t in self._tickers],
        }
        if self._avail_idx is not None:
            data["available_date"] = self.available_dates
        return pd.DataFrame(data)


def load_news(
    path: str,
    *,
    decision_time: str = "16:00",
    timezone: str = "America/New_York",
    calendar: Any = None,
) -> DocumentStore:
    """Read a news file (Parquet or CSV) with ``published, title, tickers`` and ``lead`` or ``body``.

    A row whose ``published`` is missing falls back to the end of its ``date`` in the latest time zone
    on earth (``date + 1 day, 12:00 UTC``), which is never earlier than the true publication whatever
    zone ``date`` was written in.

    Raises:
        DataError: missing columns, unparsable stamps, empty file.
    """
    df = read_table(path)
    cols = {c.lower(): c for c in df.columns}
    if "published" not in cols:
        raise DataError(f"{path}: missing required column 'published'; found {list(df.columns)}")
    if "title" not in cols and "lead" not in cols and "body" not in cols:
        raise DataError(f"{path}: needs a 'title', 'lead' or 'body' column; found {list(df.columns)}")
    pub_col = df[cols["published"]]
    missing = pub_col.isna().to_numpy()
    published = np.full(len(df), np.datetime64("NaT", "ns"))
    if (~missing).any():
        published[~missing] = parse_published(pub_col[~missing].reset_index(drop=True), path)
    if missing.any():
        if "date" not in cols:
            rows = np.flatnonzero(missing)[:5].tolist()
            raise DataError(f"{path}: column 'published' missing at rows {rows} and no 'date' to fall "
                            "back on")
        day = pd.to_datetime(df[cols["date"]][missing], errors="coerce").to_numpy(dtype="datetime64[D]")
        if np.isnat(day).any():
            rows = np.flatnonzero(missing)[np.isnat(day)][:5].tolist()
            raise DataError(f"{path}: rows {rows} have neither a 'published' stamp nor a parsable 'date'")
        published[missing] = day.astype("datetime64[ns]") + np.timedelta64(36, "h")
    body_col = cols.get("lead", cols.get("body"))
    store = DocumentStore(
        published,
        df[cols["title"]].tolist() if "title" in cols else [""] * len(df),
        df[body_col].tolist() if body_col else None,
        df[cols["tickers"]].tolist() if "tickers" in cols else None,
        decision_time=decision_time,
        timezone=timezone,
        calendar=calendar,
    )
    store.info["published_fallback"] = int(missing.sum())
    store.info["source"] = str(path)
    return store
