"""Validation of long price tables: hard errors that block loading, and a suspicious-data report.

Rows are named by their 0-based data-row index in the file (header excluded; in a CSV the line number is
``row + 2``) together with the row's ticker and date.

Hard errors (severity ``error``; :func:`raise_for_errors` turns them into one :class:`DataError`):

===================== =======================================================================
kind                  condition
===================== =======================================================================
``empty``             the table has no rows
``missing_column``    a required column is absent (after the column mapping)
``bad_date``          a date that cannot be parsed
``missing_ticker``    an empty ticker
``duplicate``         two rows with the same (date, ticker)
``intraday``          two rows for one ticker on one day at different times (intraday bars are not
                      aggregated: give one daily bar per stock and day)
``non_numeric``       a price/volume value that is not a number (``"abc"``), not merely missing
``non_positive``      a price <= 0 or a volume < 0
``non_finite``        an infinite value (``inf``, or a number beyond float range such as ``1e400``)
``ohlc_inconsistent`` ``high < low`` or ``open``/``close`` outside ``[low, high]`` on more than
                      ``ohlc_tolerance`` (default 0.1 %) of the rows
===================== =======================================================================

Reported, not fatal (severity ``warning``): ``missing_value`` (loaded as NaN), ``ohlc_masked`` (the few
inconsistent rows within tolerance: their open/high/low are set to NaN, close kept), ``jump`` (a one-day
close-to-close move by more than a factor 1.5 either way, i.e. ``|log(c_t / c_prev)| > log 1.5``,
labelled ``reversed`` when the price comes back within 25 % of the pre-jump level within 5 days, else
``persisted``), ``zero_volume``, ``gap`` (a listed stock missing for >= 5 consecutive trading days)
and ``date_outlier`` (rows whose date lies more than :data:`DATE_GAP_DAYS` calendar days away from the
main run of dates, e.g. a stray 1600-01-01 among 2013 data; they are loaded, and
:func:`~alpha_env.data.load_panel` also emits a ``UserWarning``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alpha_env.data.frames import WideFrame, long_to_wide
from alpha_env.errors import DataError

__all__ = [
    "Issue",
    "QualityReport",
    "REQUIRED_COLUMNS",
    "PRICE_COLUMNS",
    "ParsedPrices",
    "parse_prices",
    "validate_prices",
    "suspicious_issues",
    "date_outlier_issues",
    "raise_for_errors",
    "DATE_GAP_DAYS",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("date", "ticker", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "vwap")
_SHOW = 5  # rows named in a message
#: A gap between consecutive dates longer than this (calendar days) separates a run of dates; dates outside
#: the longest run are reported as ``date_outlier``.
DATE_GAP_DAYS = 365


@dataclass(frozen=True)
class Issue:
    """One finding about a data file.

    Attributes:
        severity: ``"error"`` (blocks loading) or ``"warning"`` (reported only).
        kind: machine-readable class (see the module table).
        source: the file (or table) the issue is about.
        message: one line for a human, naming column and first rows.
        column: the column concerned, if any.
        rows: first few 0-based data rows concerned.
        count: total number of rows/cells/events concerned.
        details: extra structured facts (``ticker``, ``date``, ``change``, ``label`` for jumps...).
    """

    severity: str
    kind: str
    source: str
    message: str
    column: str | None = None
    rows: tuple[int, ...] = ()
    count: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "severity": self.severity, "kind": self.kind, "source": self.source, "message": self.message,
            "column": self.column, "rows": list(self.rows), "count": self.count, "details": self.details,
        }

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass
class QualityReport:
    """All issues found in a dataset plus summary statistics (``alpha-env data check``)."""

    source: str
    issues: list[Issue] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        """Issues that block loading."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """Suspicious data, reported only."""
        return [i for i in self.issues if i.severity != "error"]

    @property
    def ok(self) -> bool:
        """True when there is no hard error."""
        return not self.errors

    def of_kind(self, kind: str) -> list[Issue]:
        """Issues of one ``kind`` (e.g. ``"jump"``)."""
        return [i for i in self.issues if i.kind == kind]

    def jumps(self) -> list[tuple[str, str]]:
        """``(ticker, date)`` of every reported jump."""
        return [(i.details["ticker"], i.details["date"]) for i in self.of_kind("jump")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "source": self.source, "ok": self.ok, "n_errors": len(self.errors),
            "n_warnings": len(self.warnings), "stats": self.stats,
            "issues": [i.to_dict() for i in self.issues],
        }

    def format(self) -> str:
        """Human-readable multi-line text."""
        lines = [f"{self.source}: {'OK' if self.ok else 'FAILED'} "
                 f"({len(self.errors)} errors, {len(self.warnings)} warnings)"]
        lines += [f"  {k}: {v}" for k, v in self.stats.items()]
        lines += [f"  [{i.severity}] {i.kind}: {i.message}" for i in self.issues]
        return "\n".join(lines)


@dataclass(frozen=True)
class ParsedPrices:
    """A validated long table and its wide form.

    Attributes:
        frame: long table with ``date`` as datetime64 and numeric value columns.
        wide: the ``(T, N)`` arrays (inconsistent OHLC within tolerance already masked to NaN).
        issues: everything found (errors and warnings).
    """

    frame: pd.DataFrame
    wide: WideFrame | None
    issues: list[Issue]


def _where(frame: pd.DataFrame, rows: np.ndarray) -> str:
    """``"12 (AAPL 2014-01-02), 57 (...)"`` for the first rows."""
    parts = []
    for r in rows[:_SHOW]:
        tk = frame["ticker"].iloc[r] if "ticker" in frame else "?"
        dt = frame["date"].iloc[r] if "date" in frame else "?"
        dt = str(dt)[:10]
        parts.append(f"{int(r)} ({tk} {dt})")
    more = f" and {len(rows) - _SHOW} more" if len(rows) > _SHOW else ""
    return ", ".join(parts) + more


def _row_issue(
    severity: str, kind: str, source: str, frame: pd.DataFrame, column: str | None,
    rows: np.ndarray, what: str,
) -> Issue:
    col = f"column '{column}': " if column else ""
    msg = f"{col}{len(rows)} {what} at rows {_where(frame, rows)}"
    return Issue(severity, kind, source, msg, column, tuple(int(r) for r in rows[:_SHOW]), int(len(rows)))


def _parse_dates(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(raw):
        out = raw
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out
    best = None
    for fmt in ("ISO8601", None):
        try:
            parsed = pd.to_datetime(raw, errors="coerce", format=fmt)
        except (ValueError, TypeError):
            continue
        if best is None or parsed.isna().sum() < best.isna().sum():
            best = parsed
        if not best.isna().any():
            break
    if best is None:  # pragma: no cover - to_datetime with errors="coerce" always returns
        best = pd.Series(pd.NaT, index=raw.index)
    return best


def _ohlc_bad(frame: pd.DataFrame) -> np.ndarray:
    o, h, lo, c = (frame[k].to_numpy(dtype=np.float64, na_value=np.nan)
                   for k in ("open", "high", "low", "close"))
    with np.errstate(invalid="ignore"):
        return (h < lo) | (c > h) | (c < lo) | (o > h) | (o < lo)


def parse_prices(
    df: pd.DataFrame,
    source: str,
    *,
    required: Sequence[str] = REQUIRED_COLUMNS,
    ohlc_tolerance: float = 0.001,
    suspicious: bool = True,
) -> ParsedPrices:
    """Parse and validate a long price table whose columns already carry canonical names.

    Every other numeric column is kept as a custom field. Never raises on bad data: all findings are in
    ``issues`` (``wide`` is ``None`` when a hard error prevents building arrays).
    """
    issues: list[Issue] = []
    if len(df) == 0:
        issues.append(Issue("error", "empty", source, "the file has no data rows"))
        return ParsedPrices(df, None, issues)
    missing = [c for c in required if c not in df.columns]
    if missing:
        issues.append(Issue(
            "error", "missing_column", source,
            f"missing required column(s) {missing}; found {list(map(str, df.columns))} "
            "(pass a column mapping, e.g. mapping={'Symbol': 'ticker'})",
            column=missing[0],
        ))
        return ParsedPrices(df, None, issues)
    frame = df.reset_index(drop=True).copy()
    raw_dates = frame["date"]
    frame["date"] = _parse_dates(raw_dates)
    bad = np.flatnonzero(frame["date"].isna().to_numpy())
    if bad.size:
        shown = ", ".join(f"{int(r)} ({raw_dates.iloc[r]!r})" for r in bad[:_SHOW])
        issues.append(Issue("error", "bad_date", source,
                            f"column 'date': {bad.size} unparsable date(s) at rows {shown}",
                            "date", tuple(int(r) for r in bad[:_SHOW]), int(bad.size)))
    tick = frame["ticker"]
    tick_missing = tick.isna().to_numpy() | (tick.astype(str).str.strip() == "").to_numpy()
    if tick_missing.any():
        issues.append(_row_issue("error", "missing_ticker", source, frame, "ticker",
                                 np.flatnonzero(tick_missing), "empty ticker(s)"))
    frame["ticker"] = tick.astype(str).str.strip()
    value_cols = [c for c in frame.columns if c not in ("date", "ticker")]
    for col in list(value_cols):
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or not (
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_string_dtype(s) or s.dtype == object
        ):
            value_cols.remove(col)
            continue
        if not pd.api.types.is_numeric_dtype(s):
            num = pd.to_numeric(s, errors="coerce")
            text = s.astype(str).str.strip()
            nonnum = (num.isna() & s.notna() & (text != "") & (text.str.lower() != "nan")).to_numpy()
            if col not in required and not col == "vwap" and nonnum.mean() > 0.5:
                value_cols.remove(col)  # a text column (e.g. a company name): not a field
                frame = frame.drop(columns=col)
                continue
            if nonnum.any():
                rows = np.flatnonzero(nonnum)
                shown = ", ".join(f"{int(r)} ({frame['ticker'].iloc[r]} {str(frame['date'].iloc[r])[:10]}: "
                                  f"{s.iloc[r]!r})" for r in rows[:_SHOW])
                issues.append(Issue("error", "non_numeric", source,
                                    f"column '{col}': {rows.size} non-numeric value(s) at rows {shown}",
                                    col, tuple(int(r) for r in rows[:_SHOW]), int(rows.size)))
            frame[col] = num
        frame[col] = frame[col].astype(np.float64)
    if any(i.severity == "error" for i in issues):
        return ParsedPrices(frame, None, issues)
    dup = frame.duplicated(["date", "ticker"], keep=False).to_numpy()
    if dup.any():
        issues.append(_row_issue("error", "duplicate", source, frame, None, np.flatnonzero(dup),
                                 "rows share a (date, ticker) with another row"))
    day = frame["date"].dt.normalize()
    same_day = pd.DataFrame({"day": day, "ticker": frame["ticker"]}).duplicated(keep=False).to_numpy()
    intraday = np.flatnonzero(same_day & ~dup)
    if intraday.size:
        shown = ", ".join(f"{int(r)} ({frame['ticker'].iloc[r]} {frame['date'].iloc[r]})"
                          for r in intraday[:_SHOW])
        more = f" and {intraday.size - _SHOW} more" if intraday.size > _SHOW else ""
        issues.append(Issue(
            "error", "intraday", source,
            f"column 'date': {intraday.size} rows are several bars of one ticker on one day at different "
            f"times (intraday data; give one daily bar per stock and day) at rows {shown}{more}",
            "date", tuple(int(r) for r in intraday[:_SHOW]), int(intraday.size)))
    for col in value_cols:
        vals = frame[col].to_numpy()
        infinite = np.flatnonzero(np.isinf(vals))
        if infinite.size:
            issues.append(_row_issue("error", "non_finite", source, frame, col, infinite,
                                     "infinite value(s) (inf, or beyond the float range such as 1e400)"))
            frame.loc[infinite, col] = np.nan  # reported once, not again as non-positive or inconsistent
            vals = frame[col].to_numpy()
        with np.errstate(invalid="ignore"):
            if col in PRICE_COLUMNS:
                nonpos = np.flatnonzero(vals <= 0)
                what = "non-positive price(s)"
            elif col in ("volume", "shares"):
                nonpos = np.flatnonzero(vals < 0)
                what = "negative value(s)"
            else:
                nonpos = np.array([], dtype=int)
        if nonpos.size:
            issues.append(_row_issue("error", "non_positive", source, frame, col, nonpos, what))
        nan_rows = np.setdiff1d(np.flatnonzero(np.isnan(vals)), infinite)
        if nan_rows.size and col in required + ("vwap",):
            issues.append(_row_issue("warning", "missing_value", source, frame, col, nan_rows,
                                     "missing value(s), loaded as NaN"))
    if all(c in frame for c in ("open", "high", "low", "close")):
        bad_rows = np.flatnonzero(_ohlc_bad(frame))
        if bad_rows.size:
            within = bad_rows.size <= ohlc_tolerance * len(frame)
            if within:
                frame.loc[bad_rows, ["open", "high", "low"]] = np.nan
                issues.append(_row_issue(
                    "warning", "ohlc_masked", source, frame, "high/low", bad_rows,
                    "row(s) with high < low or open/close outside [low, high] (within tolerance "
                    f"{ohlc_tolerance:.2%} of rows): open/high/low set to NaN, close kept"))
            else:
                issues.append(_row_issue(
                    "error", "ohlc_inconsistent", source, frame, "high/low", bad_rows,
                    f"row(s) with high < low or open/close outside [low, high] (more than "
                    f"{ohlc_tolerance:.2%} of rows)"))
    if any(i.severity == "error" for i in issues):
        return ParsedPrices(frame, None, issues)
    wide = long_to_wide(frame, value_cols)
    if suspicious:
        issues.extend(date_outlier_issues(frame, source))
        issues.extend(suspicious_issues(wide, source, frame))
    return ParsedPrices(frame, wide, issues)


def date_outlier_issues(frame: pd.DataFrame, source: str, gap_days: int = DATE_GAP_DAYS) -> list[Issue]:
    """A ``date_outlier`` warning for rows dated outside the longest run of dates.

    The sorted distinct days are cut wherever two consecutive ones are more than ``gap_days`` calendar days
    apart; rows outside the run holding the most dates are named (``frame`` has parsed ``date`` and
    ``ticker`` columns).
    """
    days = frame["date"].to_numpy().astype("datetime64[D]")
    uniq = np.unique(days)
    if uniq.size < 2:
        return []
    cuts = np.flatnonzero(np.diff(uniq).astype(np.int64) > gap_days) + 1
    if cuts.size == 0:
        return []
    runs = np.split(uniq, cuts)
    main = max(runs, key=len)
    rows = np.flatnonzero((days < main[0]) | (days > main[-1]))
    outside = np.unique(days[rows])
    msg = (f"column 'date': {rows.size} row(s) on {outside.size} date(s) more than {gap_days} days away from "
           f"the main date range {main[0]}..{main[-1]} at rows {_where(frame, rows)}")
    return [Issue("warning", "date_outlier", source, msg, "date", tuple(int(r) for r in rows[:_SHOW]),
                  int(rows.size), {"dates": [str(d) for d in outside[:_SHOW]],
                                   "main_range": [str(main[0]), str(main[-1])]})]


def validate_prices(df: pd.DataFrame, source: str, **options: Any) -> list[Issue]:
    """All issues of a long price table (canonical column names); see the module table.

    ``options`` go to :func:`parse_prices` (``required``, ``ohlc_tolerance``, ``suspicious``).
    """
    return parse_prices(df, source, **options).issues


def raise_for_errors(issues: Sequence[Issue]) -> None:
    """Raise one :class:`DataError` listing every hard error (attribute ``issues`` holds them)."""
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        exc = DataError("\n".join(str(i) for i in errors))
        exc.issues = list(errors)  # type: ignore[attr-defined]
        raise exc


def suspicious_issues(
    wide: WideFrame,
    source: str,
    frame: pd.DataFrame | None = None,
    *,
    jump_factor: float = 1.5,
    reverse_days: int = 5,
    reverse_band: float = 1.25,
    gap_days: int = 5,
) -> list[Issue]:
    """Jumps, zero-volume days and long gaps found in the wide arrays (all severity ``warning``)."""
    issues: list[Issue] = []
    close = wide.arrays["close"]
    dates, tickers = wide.dates, wide.tickers
    listed = np.isfinite(close)
    filled = pd.DataFrame(close).ffill().to_numpy()
    prev = np.full_like(filled, np.nan)
    prev[1:] = filled[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log(close / prev)
    thr = math.log(jump_factor)
    band = math.log(reverse_band)
    cand_t, cand_i = np.nonzero(np.abs(np.nan_to_num(lr)) > thr)
    order = np.lexsort((cand_t, cand_i))
    skip_until: dict[int, int] = {}
    for k in order:
        t, i = int(cand_t[k]), int(cand_i[k])
        if t <= skip_until.get(i, -1):
            continue
        before = prev[t, i]
        ahead = close[t + 1 : t + 1 + reverse_days, i]
        with np.errstate(divide="ignore", invalid="ignore"):
            back = np.flatnonzero(np.abs(np.log(ahead / before)) < band)
        label = "reversed" if back.size else "persisted"
        if back.size:
            skip_until[i] = t + 1 + int(back[0])
        change = close[t, i] / before - 1.0
        date = str(dates[t])
        row = int(wide.row_of[t, i])
        msg = (f"column 'close': jump {tickers[i]} {date}: {before:.4g} -> {close[t, i]:.4g} "
               f"({change:+.1%}), {label}" + (f" at row {row}" if row >= 0 else ""))
        issues.append(Issue("warning", "jump", source, msg, "close", (row,), 1,
                            {"ticker": str(tickers[i]), "date": date, "change": float(change),
                             "label": label}))
    if "volume" in wide.arrays:
        zv_t, zv_i = np.nonzero(wide.arrays["volume"] == 0)
        if zv_t.size:
            rows = wide.row_of[zv_t, zv_i]
            order = np.argsort(rows)
            rows, zv_t, zv_i = rows[order], zv_t[order], zv_i[order]
            shown = ", ".join(f"{int(r)} ({tickers[i]} {dates[t]})" for r, t, i in
                              zip(rows[:_SHOW], zv_t[:_SHOW], zv_i[:_SHOW]))
            issues.append(Issue("warning", "zero_volume", source,
                                f"column 'volume': {rows.size} zero-volume day(s) at rows {shown}",
                                "volume", tuple(int(r) for r in rows[:_SHOW]), int(rows.size)))
    gaps: list[tuple[str, str, int]] = []
    for i in range(close.shape[1]):
        idx = np.flatnonzero(listed[:, i])
        if idx.size < 2:
            continue
        steps = np.diff(idx) - 1
        for j in np.flatnonzero(steps >= gap_days):
            gaps.append((str(tickers[i]), str(dates[idx[j] + 1]), int(steps[j])))
    if gaps:
        shown = ", ".join(f"{tk} from {d} ({n} days)" for tk, d, n in gaps[:_SHOW])
        more = f" and {len(gaps) - _SHOW} more" if len(gaps) > _SHOW else ""
        issues.append(Issue("warning", "gap", source,
                            f"{len(gaps)} gap(s) of >= {gap_days} trading days inside a listing: "
                            f"{shown}{more}",
                            None, (), len(gaps), {"gaps": [list(g) for g in gaps]}))
    return issues
