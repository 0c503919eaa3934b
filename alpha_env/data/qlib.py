"""Read a Qlib data folder (the ``provider_uri`` of ``qlib.init``) into a :class:`MarketPanel`.

The layout, as Qlib's ``dump_bin`` writes it::

    calendars/day.txt                       one trading date per line (YYYY-MM-DD), increasing
    instruments/<market>.txt                SYMBOL<TAB>start<TAB>end per line (a symbol may have several)
    features/<symbol>/<field>.day.bin       little-endian float32: [start index, v_start, v_start+1, ...]

The first float of a ``.bin`` file is the index into the calendar of its first value; then one value per
trading day, with NaN for days without data. A symbol that starts late has a large start index; one that
ends early has fewer values (the days after them are NaN here).

Fields: every ``<field>.day.bin`` becomes the panel field ``<field>`` (Qlib's ``$field``): ``open high low
close volume`` and, when present, ``vwap``, ``factor`` and any other field (e.g. ``change``). Prices are
taken *as stored*, which is what Qlib's ``$close`` returns: Qlib's collectors store adjusted prices
(``adjusted = raw * factor``) and adjusted volume (``raw / factor``), so an unadjusted close is
``close / factor``. No further adjustment is applied.

Universe: a stock is tradable on a day when the market file lists it for that day (its inclusive
``[start, end]`` entries: the point-in-time membership, as ``D.features`` filters rows by these spans)
and the default :class:`~alpha_env.data.universe.UniverseSpec` rules hold (a close, enough history).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alpha_env.data.panel import MarketPanel
from alpha_env.data.splits import make_splits
from alpha_env.data.universe import UniverseSpec, compute_universe
from alpha_env.errors import DataError

__all__ = [
    "QLIB_FREQ",
    "is_qlib_folder",
    "read_calendar",
    "read_instruments",
    "read_bin",
    "load_qlib",
]

#: The calendar / feature frequency read (Qlib's ``freq``); only daily data is supported.
QLIB_FREQ = "day"
_REQUIRED = ("close",)


def is_qlib_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder with ``calendars/`` and ``features/`` sub-folders."""
    p = Path(path)
    return p.is_dir() and (p / "calendars").is_dir() and (p / "features").is_dir()


def read_calendar(folder: str | Path) -> np.ndarray:
    """The trading dates of ``calendars/day.txt`` as ``(T,)`` ``datetime64[D]``.

    Raises:
        DataError: missing file, an unparsable line (named by its number), dates not increasing.
    """
    path = Path(folder) / "calendars" / f"{QLIB_FREQ}.txt"
    if not path.is_file():
        raise DataError(f"{path}: no such calendar file (a Qlib folder needs calendars/{QLIB_FREQ}.txt)")
    days: list[np.datetime64] = []
    for no, line in enumerate(path.read_text().splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        try:
            days.append(np.datetime64(s[:10], "D"))
        except ValueError:
            raise DataError(f"{path}: line {no}: cannot parse date {s!r}") from None
    if not days:
        raise DataError(f"{path}: the calendar is empty")
    out = np.array(days, dtype="datetime64[D]")
    bad = np.flatnonzero(out[1:] <= out[:-1])
    if bad.size:
        raise DataError(f"{path}: line {int(bad[0]) + 2}: dates must be strictly increasing")
    return out


def read_instruments(folder: str | Path, market: str = "all") -> dict[str, list[tuple[np.datetime64,
                                                                                     np.datetime64]]]:
    """``instruments/<market>.txt`` as ``{SYMBOL: [(start, end), ...]}`` (inclusive date spans).

    Raises:
        DataError: missing file, a line without three tab-separated fields, bad dates, ``end < start``.
    """
    path = Path(folder) / "instruments" / f"{market}.txt"
    if not path.is_file():
        have = sorted(p.stem for p in (Path(folder) / "instruments").glob("*.txt"))
        raise DataError(f"{path}: no such instruments file (markets here: {have})")
    spans: dict[str, list[tuple[np.datetime64, np.datetime64]]] = {}
    for no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split("\t")
        if len(parts) != 3:
            raise DataError(f"{path}: line {no}: expected SYMBOL<TAB>start<TAB>end, got {line.strip()!r}")
        sym, a, b = (x.strip() for x in parts)
        try:
            start, end = np.datetime64(a[:10], "D"), np.datetime64(b[:10], "D")
        except ValueError:
            raise DataError(f"{path}: line {no}: cannot parse the dates {a!r} / {b!r}") from None
        if end < start:
            raise DataError(f"{path}: line {no}: end {b} is before start {a}")
        spans.setdefault(sym.upper(), []).append((start, end))
    if not spans:
        raise DataError(f"{path}: no instrument listed")
    return spans


def read_bin(path: str | Path, n_dates: int) -> np.ndarray:
    """One feature file as a ``(n_dates,)`` float64 column aligned to the calendar (NaN outside it).

    Raises:
        DataError: unreadable file, size not a multiple of 4 bytes, no start index, a start index that is
            not a whole number in ``[0, n_dates)``, or more values than the calendar has days after it.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror})") from None
    if len(raw) % 4:
        raise DataError(f"{p}: corrupt feature file: {len(raw)} bytes is not a whole number of float32")
    data = np.frombuffer(raw, dtype="<f4")
    if data.size == 0:
        raise DataError(f"{p}: corrupt feature file: empty (no start index)")
    start = float(data[0])
    if not np.isfinite(start) or start != int(start) or not 0 <= start < n_dates:
        raise DataError(f"{p}: corrupt feature file: start index {start!r} is not a day of the "
                        f"{n_dates}-day calendar")
    s = int(start)
    values = data[1:]
    if s + values.size > n_dates:
        raise DataError(f"{p}: corrupt feature file: {values.size} values from day {s} run past the "
                        f"{n_dates}-day calendar")
    col = np.full(n_dates, np.nan)
    col[s:s + values.size] = values
    return col


def _symbol_dirs(folder: Path) -> dict[str, Path]:
    return {d.name.upper(): d for d in sorted((folder / "features").iterdir()) if d.is_dir()}


def load_qlib(
    folder: str | Path,
    *,
    market: str = "all",
    fields: Sequence[str] | None = None,
    splits: Mapping[str, Any] | None = None,
    universe: UniverseSpec | Mapping[str, Any] | None = None,
    name: str | None = None,
) -> MarketPanel:
    """Load a Qlib data folder into a :class:`MarketPanel` (fields ``(T, N)`` over the calendar).

    Args:
        folder: the Qlib data folder (``calendars/``, ``instruments/``, ``features/``).
        market: instruments file to use (``instruments/<market>.txt``); ``"all"`` falls back to every
            symbol folder under ``features/`` (listed for the whole calendar) when ``all.txt`` is absent.
        fields: fields to read (default: every ``*.day.bin`` found); ``close`` is required.
        splits: see :func:`alpha_env.data.splits.make_splits` (default 60/20/20).
        universe: :class:`UniverseSpec` or its fields, applied inside the market's membership spans.
        name: dataset name for metadata (default: the folder name).

    Raises:
        DataError: a missing or corrupt file (named), a listed symbol without a features folder, no
            ``close`` for a symbol.
    """
    t0 = time.perf_counter()
    root = Path(folder)
    if not is_qlib_folder(root):
        raise DataError(f"{root}: not a Qlib data folder (needs calendars/ and features/)")
    dates = read_calendar(root)
    n_dates = dates.size
    dirs = _symbol_dirs(root)
    inst_file = root / "instruments" / f"{market}.txt"
    if market == "all" and not inst_file.is_file():
        spans = {s: [(dates[0], dates[-1])] for s in dirs}
    else:
        spans = read_instruments(root, market)
    missing = sorted(s for s in spans if s not in dirs)
    if missing:
        raise DataError(f"{inst_file}: symbol(s) {missing[:5]} have no folder under {root / 'features'}")
    tickers = sorted(spans)
    if not tickers:
        raise DataError(f"{root / 'features'}: no symbol folder")
    suffix = f".{QLIB_FREQ}.bin"
    if fields is None:
        names = sorted({f.name[: -len(suffix)] for s in tickers for f in dirs[s].glob(f"*{suffix}")})
    else:
        names = [str(f).lstrip("$").lower() for f in fields]
    for req in _REQUIRED:
        if req not in names:
            raise DataError(f"{root / 'features'}: no '{req}{suffix}' file (Qlib field ${req})")
    arrays = {f: np.full((n_dates, len(tickers)), np.nan) for f in names}
    for j, sym in enumerate(tickers):
        for f in names:
            path = dirs[sym] / f"{f}{suffix}"
            if path.is_file():
                arrays[f][:, j] = read_bin(path, n_dates)
            elif f in _REQUIRED:
                raise DataError(f"{path}: missing (every symbol needs ${f})")
    member = np.zeros((n_dates, len(tickers)), dtype=bool)
    for j, sym in enumerate(tickers):
        for a, b in spans[sym]:
            member[:, j] |= (dates >= a) & (dates <= b)
    spec = UniverseSpec.coerce(universe)
    uni = compute_universe(arrays["close"], arrays.get("volume"), spec) & member
    try:
        split_map = make_splits(dates, splits)
    except DataError as exc:
        raise DataError(f"{root}: {exc}") from None
    meta: dict[str, Any] = {
        "name": name or root.name, "source": str(root), "format": "qlib", "market": market,
        "qlib_fields": names, "universe": spec.to_dict(), "splits_spec": dict(splits) if splits else None,
        "membership_coverage": round(float(member.mean()), 4),
        "load_seconds": round(time.perf_counter() - t0, 3),
    }
    return MarketPanel(dates, tickers, arrays, universe=uni, splits=split_map, metadata=meta)
