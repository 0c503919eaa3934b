"""Load real market data into a :class:`MarketPanel`: price files, sector files, news, dataset folders.

Price files are long tables (one row per date and ticker) in CSV, CSV.gz or Parquet. Column names are
matched case-insensitively through :data:`COLUMN_ALIASES` (so the Kaggle ``all_stocks_5yr.csv`` with its
``Name`` column loads as is); ``mapping={"file column": "canonical name"}`` overrides. Extra numeric
columns become custom fields (``shares`` enables ``cap``; ``vwap`` replaces the approximation).

A dataset folder holds a price file (``prices.*`` or the only other table), optionally ``sectors.csv``
and ``news.parquet``/``news.csv``, and optionally a small config ``alpha_env.yaml`` or ``dataset.yaml``::

    name: my_data
    prices: prices.parquet          # or a list of files
    sectors: sectors.csv
    news: news.parquet
    mapping: {Symbol: ticker}
    groups: {sector: gics_sector, industry: gics_industry, subindustry: gics_sub_industry}
    fields: [shares]                # extra columns to keep (default: every numeric extra column)
    splits: {valid: "2016-01-01", test: "2017-01-01"}
    universe: {min_history: 20, top_n: 500}
    decision_time: "16:00"
    timezone: America/New_York
    ohlc_tolerance: 0.001

Sector files: ``ticker, sector[, industry][, subindustry]``. When a file has ``industry`` but no
``subindustry`` (the GICS sub-industry name, as in the bundled ``sp500``/``us`` sets), that column is used
for both the ``industry`` and the ``subindustry`` groups (``metadata['group_columns']`` records it).
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alpha_env.data.documents import DocumentStore, load_news
from alpha_env.data.io import read_table
from alpha_env.data.panel import MarketPanel
from alpha_env.data.qlib import is_qlib_folder, load_qlib
from alpha_env.data.splits import make_splits
from alpha_env.data.universe import UniverseSpec, compute_universe
from alpha_env.data.validate import Issue, QualityReport, parse_prices, raise_for_errors
from alpha_env.errors import DataError

__all__ = [
    "COLUMN_ALIASES",
    "CONFIG_NAMES",
    "DatasetFiles",
    "read_table",  # re-exported from alpha_env.data.io
    "read_prices",
    "read_groups",
    "find_dataset",
    "load_panel",
    "check_dataset",
]

#: Lower-cased file column → canonical column.
COLUMN_ALIASES: dict[str, str] = {
    "date": "date", "datetime": "date", "timestamp": "date", "day": "date", "trade_date": "date",
    "ticker": "ticker", "name": "ticker", "symbol": "ticker", "tic": "ticker", "code": "ticker",
    "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume", "vol": "volume",
    "vwap": "vwap", "shares": "shares", "shares_outstanding": "shares", "sharesoutstanding": "shares",
    "sector": "sector", "industry": "industry", "subindustry": "subindustry", "sub_industry": "subindustry",
    "gics_sector": "sector", "gics_sub_industry": "subindustry",
}
#: Config file names looked for in a dataset folder, in order.
CONFIG_NAMES: tuple[str, ...] = ("alpha_env.yaml", "alpha_env.yml", "dataset.yaml", "dataset.yml")
_TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".tsv", ".txt")
_SECTOR_STEMS = ("sectors", "sector", "industries", "groups")
_NEWS_STEMS = ("news", "documents", "articles")
_CONFIG_KEYS = {
    "name", "prices", "sectors", "news", "mapping", "groups", "fields", "splits", "universe",
    "decision_time", "timezone", "ohlc_tolerance",
}


def _is_table(p: Path) -> bool:
    return p.is_file() and any(p.name.lower().endswith(s) for s in _TABLE_SUFFIXES)


def _stem(p: Path) -> str:
    name = p.name.lower()
    for s in sorted(_TABLE_SUFFIXES, key=len, reverse=True):
        if name.endswith(s):
            return name[: -len(s)]
    return p.stem.lower()


def _canonical_columns(df: pd.DataFrame, mapping: Mapping[str, str] | None, source: str) -> pd.DataFrame:
    mapping = dict(mapping or {})
    for col in mapping:
        if col not in df.columns:
            raise DataError(f"{source}: mapping names column '{col}' which the file lacks; "
                            f"found {list(map(str, df.columns))}")
    rename: dict[str, str] = {}
    for col in df.columns:
        c = str(col)
        if c in mapping:
            rename[c] = mapping[c]
        else:
            key = re.sub(r"[^a-z0-9]+", "_", c.strip().lower()).strip("_")
            rename[c] = COLUMN_ALIASES.get(key, key)
    out = df.rename(columns=rename)
    dup = out.columns[out.columns.duplicated()].tolist()
    if dup:
        raise DataError(f"{source}: several columns map to {sorted(set(dup))}; pass an explicit mapping")
    return out


def read_prices(
    paths: str | Path | Sequence[str | Path], mapping: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Read one or more long price files into one table with canonical column names.

    A file without a ticker column gets its file name (without suffix) as ticker, so a folder of
    per-ticker files loads as one table. Returns ``(table, source)`` where ``source`` names the file(s).
    """
    plist = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not plist:
        raise DataError("no price file given")
    frames = []
    for p in plist:
        df = _canonical_columns(read_table(p), mapping, str(p))
        if "ticker" not in df.columns and len(plist) > 1:
            df["ticker"] = _stem(p).split("_")[0].upper()
        frames.append(df)
    source = str(plist[0]) if len(plist) == 1 else f"{plist[0]} (+{len(plist) - 1} files)"
    table = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return table, source


def read_groups(
    path: str | Path,
    tickers: np.ndarray,
    columns: Mapping[str, str] | None = None,
) -> tuple[dict[str, tuple[np.ndarray, tuple[str, ...]]], dict[str, str], list[Issue]]:
    """Read a sector file into group codes aligned with ``tickers`` (``(N,)``).

    ``columns`` maps group name → file column; default: ``sector``, ``industry`` and ``subindustry``
    (falling back to the industry column). Returns ``(groups, group_columns, issues)``.

    Raises:
        DataError: no ticker column, no group column, or no ticker in common with the prices.
    """
    source = str(path)
    raw = read_table(path)
    df = _canonical_columns(raw, None, source)
    if "ticker" not in df.columns:
        raise DataError(f"{source}: missing required column 'ticker'; found {list(map(str, raw.columns))}")
    if columns:
        cols = {g.lower(): str(c) for g, c in columns.items()}
        canon = {str(c): str(k) for c, k in zip(raw.columns, df.columns)}
        cols = {g: canon.get(c, c) for g, c in cols.items()}
        for g, c in cols.items():
            if c not in df.columns:
                raise DataError(f"{source}: group '{g}' maps to column '{c}' which the file lacks")
    else:
        cols = {g: g for g in ("sector", "industry", "subindustry") if g in df.columns}
        if "subindustry" not in cols and "industry" in cols:
            cols["subindustry"] = "industry"
    if not cols:
        raise DataError(f"{source}: no group column (expected sector/industry/subindustry); "
                        f"found {list(map(str, raw.columns))}")
    df["ticker"] = df["ticker"].astype(str).str.strip()
    dup = df["ticker"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)[:5].tolist()
        raise DataError(f"{source}: column 'ticker': duplicate tickers at rows {rows}")
    pos = pd.Index(df["ticker"]).get_indexer(pd.Index(tickers))
    matched = pos >= 0
    if not matched.any():
        raise DataError(f"{source}: column 'ticker': none of its {len(df)} tickers (e.g. "
                        f"{df['ticker'].head(3).tolist()}) match the {len(tickers)} price tickers "
                        f"(e.g. {list(tickers[:3])})")
    issues: list[Issue] = []
    if not matched.all():
        miss = [str(t) for t in np.asarray(tickers)[~matched]]
        issues.append(Issue("warning", "group_missing", source,
                            f"column 'ticker': {len(miss)} price ticker(s) have no group (code -1): "
                            f"{miss[:5]}", "ticker", (), len(miss)))
    groups: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
    reported: set[str] = set()
    for g, c in cols.items():
        vals = df[c].astype("string").str.strip()
        labels_all = vals.to_numpy(dtype=object, na_value=None)
        per_stock = np.array([labels_all[k] if k >= 0 else None for k in pos], dtype=object)
        known = sorted({str(v) for v in per_stock if v not in (None, "")})
        code_of = {lab: i for i, lab in enumerate(known)}
        codes = np.array([code_of.get(v, -1) if v is not None else -1 for v in per_stock], dtype=np.int64)
        groups[g] = (codes, tuple(known))
        n_unknown = int((codes < 0).sum() - (~matched).sum())
        if n_unknown > 0 and c not in reported:
            reported.add(c)
            issues.append(Issue("warning", "group_missing", source,
                                f"column '{c}': {n_unknown} ticker(s) without a label (code -1)", c, (),
                                n_unknown))
    return groups, cols, issues


class DatasetFiles(dict):
    """Files and options of a dataset (result of :func:`find_dataset`): keys of the config format."""


def _load_config(folder: Path) -> dict[str, Any]:
    for name in CONFIG_NAMES:
        p = folder / name
        if p.is_file():
            import yaml

            try:
                cfg = yaml.safe_load(p.read_text()) or {}
            except yaml.YAMLError as exc:
                raise DataError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
            if not isinstance(cfg, dict):
                raise DataError(f"{p}: expected a mapping of options")
            unknown = set(cfg) - _CONFIG_KEYS
            if unknown:
                raise DataError(f"{p}: unknown option(s) {sorted(unknown)}; known: {sorted(_CONFIG_KEYS)}")
            cfg["_config"] = str(p)
            return cfg
    return {}


def find_dataset(path: str | Path | Sequence[str | Path]) -> DatasetFiles:
    """Resolve a dataset folder (config file + detection) or a list of price files to its files.

    Raises:
        DataError: no price file found, several candidates without a config, missing paths.
    """
    if not isinstance(path, str | Path):
        plist = [Path(p) for p in path]
        if len(plist) == 1:
            return find_dataset(plist[0])
        if any(p.is_dir() for p in plist):
            raise DataError("give either one dataset folder or a list of price files")
        return DatasetFiles(prices=[str(p) for p in plist], name=_stem(plist[0]))
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_file():
        return DatasetFiles(prices=[str(p)], name=_stem(p))
    cfg = _load_config(p)
    out = DatasetFiles(name=p.name)
    out.update({k: v for k, v in cfg.items()})
    tables = sorted(q for q in p.iterdir() if _is_table(q))

    def resolve(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, list):
            return [resolve(x) for x in v]
        q = p / str(v)
        if not q.exists():
            raise DataError(f"{cfg.get('_config', p)}: file '{v}' not found in {p}")
        return str(q)

    for key, stems in (("sectors", _SECTOR_STEMS), ("news", _NEWS_STEMS)):
        if key in cfg:
            out[key] = resolve(cfg[key])
        else:
            found = [q for q in tables if _stem(q) in stems]
            out[key] = str(found[0]) if found else None
    if "prices" in cfg:
        pr = resolve(cfg["prices"])
        out["prices"] = pr if isinstance(pr, list) else [pr]
    else:
        others = [q for q in tables if str(q) not in (out.get("sectors"), out.get("news"))]
        named = [q for q in others if _stem(q) in ("prices", "price", "ohlcv", "bars")]
        if named:
            out["prices"] = [str(named[0])]
        elif len(others) == 1:
            out["prices"] = [str(others[0])]
        elif not others:
            raise DataError(f"{p}: no price file found (expected prices.parquet/.csv/.csv.gz or a config "
                            f"file {CONFIG_NAMES[0]} naming it)")
        else:
            raise DataError(f"{p}: several candidate price files {[q.name for q in others]}; name one in "
                            f"{CONFIG_NAMES[0]} (prices: FILE)")
    return out


def load_panel(
    path_or_paths: str | Path | Sequence[str | Path],
    *,
    mapping: Mapping[str, str] | None = None,
    sectors: str | Path | None = None,
    news: str | Path | None = None,
    splits: Mapping[str, Any] | None = None,
    universe: UniverseSpec | Mapping[str, Any] | None = None,
    fields: Sequence[str] | None = None,
    groups: Mapping[str, str] | None = None,
    decision_time: str | None = None,
    timezone: str | None = None,
    ohlc_tolerance: float | None = None,
    name: str | None = None,
) -> MarketPanel:
    """Load a dataset folder or price file(s) into a validated :class:`MarketPanel`.

    A Qlib data folder (``calendars/`` + ``features/``) is read by :func:`alpha_env.data.qlib.load_qlib`
    (market ``all``; ``fields``, ``splits``, ``universe`` and ``name`` apply, the other options do not).

    Keyword arguments override the folder's config file; ``None`` keeps the config (or the default).

    Args:
        path_or_paths: a dataset folder, a price file, or a list of price files.
        mapping: file column → canonical name (``date ticker open high low close volume vwap shares``).
        sectors: sector file (default: ``sectors.csv`` of the folder).
        news: news file (default: ``news.parquet`` of the folder); adds ``documents`` and ``news_count``.
        splits: see :func:`alpha_env.data.splits.make_splits` (default 60/20/20).
        universe: :class:`UniverseSpec` or its fields (default ``min_history=20``, all stocks).
        fields: extra price columns to keep as custom fields (default: every numeric extra column).
        groups: group name → sector-file column.
        decision_time, timezone: decision clock for news (default ``"16:00"``, ``America/New_York``).
        ohlc_tolerance: largest fraction of rows with inconsistent OHLC that is masked instead of
            rejected (default 0.001).
        name: dataset name for metadata.

    Raises:
        DataError: any hard validation error (names the file, column and first rows).
    """
    if isinstance(path_or_paths, str | Path) and is_qlib_folder(path_or_paths):
        return load_qlib(path_or_paths, fields=fields, splits=splits, universe=universe, name=name)
    t0 = time.perf_counter()
    files = find_dataset(path_or_paths)
    opt = dict(files)
    for key, val in (("mapping", mapping), ("sectors", sectors), ("news", news), ("splits", splits),
                     ("universe", universe), ("fields", fields), ("groups", groups),
                     ("decision_time", decision_time), ("timezone", timezone),
                     ("ohlc_tolerance", ohlc_tolerance), ("name", name)):
        if val is not None:
            opt[key] = str(val) if key in ("sectors", "news") else val
    table, source = read_prices(opt["prices"], opt.get("mapping"))
    keep = opt.get("fields")
    if keep is not None:
        extra = [c for c in table.columns if c not in ("date", "ticker", "open", "high", "low", "close",
                                                       "volume", "vwap")]
        missing = [f for f in keep if f not in table.columns]
        if missing:
            raise DataError(f"{source}: config asks for field(s) {missing} which the file lacks")
        table = table.drop(columns=[c for c in extra if c not in keep])
    parsed = parse_prices(table, source, ohlc_tolerance=float(opt.get("ohlc_tolerance", 0.001)))
    issues = list(parsed.issues)
    raise_for_errors(issues)
    for issue in issues:
        if issue.kind == "date_outlier":
            warnings.warn(str(issue), UserWarning, stacklevel=2)
    wide = parsed.wide
    assert wide is not None
    meta: dict[str, Any] = {"name": opt.get("name"), "source": source, "rows": int(len(parsed.frame))}
    if opt.get("_config"):
        meta["config"] = opt["_config"]
    grp: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
    if opt.get("sectors"):
        grp, group_cols, g_issues = read_groups(opt["sectors"], wide.tickers, opt.get("groups"))
        issues.extend(g_issues)
        meta["sectors_source"] = str(opt["sectors"])
        meta["group_columns"] = group_cols
    arrays = {k: v for k, v in wide.arrays.items()}
    documents: DocumentStore | None = None
    if opt.get("news"):
        documents = load_news(
            opt["news"], decision_time=opt.get("decision_time", "16:00"),
            timezone=opt.get("timezone", "America/New_York"), calendar=wide.dates,
        )
        counts = documents.daily_counts(wide.tickers)
        counts[~np.isfinite(arrays["close"])] = np.nan
        arrays["news_count"] = counts
        meta["news_source"] = str(opt["news"])
        meta["news_documents"] = len(documents)
        meta["news_published_fallback"] = documents.info.get("published_fallback", 0)
    try:
        split_map = make_splits(wide.dates, opt.get("splits"))
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None
    spec = UniverseSpec.coerce(opt.get("universe"))
    uni = compute_universe(arrays["close"], arrays.get("volume"), spec)
    meta["universe"] = spec.to_dict()
    meta["splits_spec"] = opt.get("splits")
    kinds: dict[str, int] = {}
    for i in issues:
        kinds[i.kind] = kinds.get(i.kind, 0) + max(i.count, 1)
    meta["quality"] = kinds
    meta["warnings"] = [i.message for i in issues]
    meta["jumps"] = [[i.details["ticker"], i.details["date"], i.details["label"]]
                     for i in issues if i.kind == "jump"]
    meta["load_seconds"] = round(time.perf_counter() - t0, 3)
    return MarketPanel(
        wide.dates, wide.tickers, arrays, groups=grp, universe=uni,
        splits=split_map, metadata=meta, documents=documents,
    )


def check_dataset(path: str | Path | Sequence[str | Path], **options: Any) -> QualityReport:
    """Run every check on a dataset without raising on bad data: the :class:`QualityReport`.

    ``options`` are those of :func:`load_panel` (``mapping``, ``sectors``, ``news``, ``ohlc_tolerance``).
    Only problems of locating/reading the files themselves raise :class:`DataError`.
    """
    files = find_dataset(path)
    opt = {**files, **{k: v for k, v in options.items() if v is not None}}
    source = str(path) if isinstance(path, str | Path) else ", ".join(map(str, path))
    report = QualityReport(source)
    try:
        table, psource = read_prices(opt["prices"], opt.get("mapping"))
    except DataError as exc:
        report.issues.append(Issue("error", "unreadable", source, str(exc)))
        return report
    parsed = parse_prices(table, psource, ohlc_tolerance=float(opt.get("ohlc_tolerance", 0.001)))
    report.issues.extend(parsed.issues)
    report.stats["rows"] = int(len(table))
    if parsed.wide is not None:
        w = parsed.wide
        report.stats.update({
            "dates": int(w.dates.size), "tickers": int(w.tickers.size),
            "first_date": str(w.dates[0]), "last_date": str(w.dates[-1]),
            "coverage": round(float(np.isfinite(w.arrays["close"]).mean()), 4),
        })
        try:
            make_splits(w.dates, opt.get("splits"))
        except DataError as exc:
            report.issues.append(Issue("error", "splits", psource, str(exc)))
        if opt.get("sectors"):
            try:
                groups, _, g_issues = read_groups(opt["sectors"], w.tickers, opt.get("groups"))
                report.issues.extend(g_issues)
                report.stats["groups"] = {g: len(labels) for g, (_, labels) in groups.items()}
            except DataError as exc:
                report.issues.append(Issue("error", "sectors", str(opt["sectors"]), str(exc)))
        if opt.get("news"):
            try:
                store = load_news(opt["news"], calendar=w.dates)
                avail = store.available_index
                report.stats["news_documents"] = len(store)
                report.stats["news_usable"] = int((avail >= 0).sum())
                fb = store.info.get("published_fallback", 0)
                if fb:
                    report.issues.append(Issue(
                        "warning", "news_published_missing", str(opt["news"]),
                        f"column 'published': {fb} row(s) without a stamp, dated conservatively from 'date'",
                        "published", (), fb))
            except DataError as exc:
                report.issues.append(Issue("error", "news", str(opt["news"]), str(exc)))
    report.issues.sort(key=lambda i: 0 if i.severity == "error" else 1)
    return report
