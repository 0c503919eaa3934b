"""Read-only queries of the dashboard: the alpha index (latest simulation of every alpha, sortable and
filterable in memory), pools and runs when the store has them, and PnL correlations.

The store (a SQLite file or a PostgreSQL database) is opened read-only through
:mod:`alpha_env.dashboard.reader`: the dashboard never writes, not even the WAL switch. The table
page must stay fast with 100,000 alphas, so :class:`AlphaIndex` reads the metrics of every alpha's
latest simulation once into a pandas frame (about a second per 100,000 alphas) and then only the
simulations stored since (``id > last seen``), so a store that a training run keeps filling is shown
up to date at the cost of one ``MAX(id)`` per request.
"""

from __future__ import annotations

import json
import math
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alpha_env.ace.report import settings_label
from alpha_env.ace.store import _unpack  # the store's own blob format
from alpha_env.dashboard.reader import ReadConnection, StoreSource
from alpha_env.errors import StoreError

__all__ = [
    "connect_readonly", "StoreSource", "ReadConnection", "AlphaIndex", "TableQuery", "TablePage",
    "TABLE_METRICS", "SORT_DIRECTIONS",
    "table_names", "pools", "runs", "load_pnl", "similar_alphas", "correlation_matrix",
]

#: Metrics of each split kept in the index (columns ``"{split}.{metric}"``), in display order.
TABLE_METRICS: tuple[str, ...] = ("sharpe", "ic", "rank_ic", "turnover", "fitness", "max_drawdown",
                                  "annual_return")

#: Sort directions accepted by :class:`TableQuery`.
SORT_DIRECTIONS: tuple[str, ...] = ("desc", "asc")

#: Columns of the index that are not per-split metrics, and may be sorted on.
_PLAIN_SORTS: tuple[str, ...] = ("alpha_id", "expression", "dataset_id", "settings", "checks_passed",
                                 "created_at", "run")

# What a read of a damaged file or row raises (turned into StoreError naming the store).
_READ_ERRORS: tuple[type[BaseException], ...] = (ValueError, zlib.error, KeyError,
                                                 TypeError)


def connect_readonly(store: str | Path | StoreSource) -> ReadConnection:
    """A read-only connection to the alpha store ``store`` (a path, a ``postgresql://`` URL or a
    :class:`StoreSource`), checked to be one.

    Raises:
        StoreError: nothing there, not a database, a foreign database, a newer schema, or missing tables.
    """
    source = store if isinstance(store, StoreSource) else StoreSource(store)
    return source.connect()


def table_names(con: ReadConnection) -> list[str]:
    """Names of the user tables of the store, sorted."""
    return con.table_names()


@dataclass(frozen=True)
class TableQuery:
    """One view of the alpha table.

    Attributes:
        sort: ``"{split}.{metric}"`` (e.g. ``valid.sharpe``) or a plain column (``created_at``,
            ``checks_passed``, ...).
        direction: ``desc`` or ``asc``; missing values (NaN) always come last.
        dataset: keep only this dataset id (``""``: all).
        settings: keep only this settings label (as shown in the table, e.g. ``d1 market dc0 0bps``).
        passed: ``"yes"`` every check passed, ``"no"`` some failed, ``""`` both.
        search: keep expressions containing this text (case-insensitive, literal).
        page: 1-based page number.
        per_page: rows per page (1 to 500).
    """

    sort: str = "train.sharpe"
    direction: str = "desc"
    dataset: str = ""
    settings: str = ""
    passed: str = ""
    search: str = ""
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.direction not in SORT_DIRECTIONS:
            raise StoreError(f"bad sort direction {self.direction!r}; one of {', '.join(SORT_DIRECTIONS)}")
        if self.passed not in ("", "yes", "no"):
            raise StoreError(f"bad checks filter {self.passed!r}; one of yes, no or empty")
        if self.page < 1:
            raise StoreError(f"page must be >= 1, got {self.page}")
        if not 1 <= self.per_page <= 500:
            raise StoreError(f"per_page must be in [1, 500], got {self.per_page}")


@dataclass(frozen=True)
class TablePage:
    """One page of the alpha table: ``rows`` (dicts of the index columns), ``total`` matching rows,
    ``pages`` (at least 1), and the query that made it."""

    rows: list[dict[str, Any]]
    total: int
    pages: int
    query: TableQuery


class AlphaIndex:
    """The latest simulation of every alpha of one store, as a frame to sort, filter and page.

    One row per alpha: ``alpha_id``, ``expression``, ``dataset_id``, ``settings`` (label),
    ``created_at`` (found at), ``run`` (``metadata["run"]`` if a run recorded one), ``degenerate``,
    ``checks_passed`` / ``checks_total`` and ``"{split}.{metric}"`` for every split and
    :data:`TABLE_METRICS` (NaN where undefined).

    Thread-safe: :meth:`refresh` takes a lock, and a page is computed on the frame as it was.
    """

    def __init__(self, store: str | Path | StoreSource):
        self.source = store if isinstance(store, StoreSource) else StoreSource(store)
        self.path = self.source.label  # what messages name: a path, or a URL without its password
        self._lock = threading.Lock()
        self._last_id = 0
        self._frame = pd.DataFrame()
        self.splits: list[str] = []
        self.refresh()

    @property
    def frame(self) -> pd.DataFrame:
        """The current index (one row per alpha, indexed by alpha id)."""
        return self._frame

    def refresh(self) -> int:
        """Read the simulations stored since the last refresh; returns how many were read."""
        with self._lock:
            con = connect_readonly(self.source)
            try:
                top = con.execute("SELECT MAX(id) FROM simulations").fetchone()[0]
                if top is None or int(top) <= self._last_id:
                    return 0
                new = self._read(con, self._last_id)
            except con.errors as exc:
                raise StoreError(f"store {self.path}: cannot read the simulations{_bad_json(con)}: "
                                 f"{exc}") from exc
            finally:
                con.close()
            new = new[~new.index.duplicated(keep="last")]
            frame = new if self._frame.empty else pd.concat(
                [self._frame.drop(index=new.index, errors="ignore"), new])
            for split in self.splits:
                for metric in TABLE_METRICS:
                    if f"{split}.{metric}" not in frame.columns:
                        frame[f"{split}.{metric}"] = np.nan
            self._frame = frame.sort_index()
            self._last_id = int(top)
            return len(new)

    def _read(self, con: ReadConnection, after: int) -> pd.DataFrame:
        """The index rows of the simulations with ``id > after`` (one per simulation, in id order).

        SQLite pulls the :data:`TABLE_METRICS` of every split out of each metrics document in one
        ``json_extract`` (a short JSON array), and Python parses all those arrays in one ``json.loads``:
        parsing every full metrics document in Python would take ten times longer.
        """
        keys = con.execute(f"SELECT DISTINCT j.key FROM simulations s, {con.json_keys_from('s.metrics_json')}"
                           " WHERE s.id > ?", (after,)).fetchall()
        for (split,) in keys:
            if split not in self.splits:
                if not str(split).isidentifier():
                    raise StoreError(f"store {self.path}: bad split name {split!r} in the metrics")
                self.splits.append(str(split))
        columns = [f"{s}.{m}" for s in self.splits for m in TABLE_METRICS]
        metrics_sql = con.json_array("s.metrics_json", [(s, m) for s in self.splits for m in TABLE_METRICS])
        rows = con.execute(
            "SELECT s.id, s.alpha_id, a.expression, a.dataset_id, a.settings_json, a.created_at,"
            f" s.degenerate_reason, {con.json_text('s.metadata_json', 'run')} AS run, s.checks_json,"
            f" {metrics_sql} AS metrics"
            " FROM simulations s JOIN alphas a ON a.alpha_id = s.alpha_id WHERE s.id > ? ORDER BY s.id",
            (after,),
        ).fetchall()
        try:
            values = np.array(json.loads("[" + ",".join(r["metrics"] for r in rows) + "]"), dtype=float)
            checks = json.loads("[" + ",".join(r["checks_json"] for r in rows) + "]")
            passed = [sum(bool(c.get("passed")) for c in row) for row in checks]
            labels: dict[str, str] = {}
            for r in rows:
                if r["settings_json"] not in labels:
                    labels[r["settings_json"]] = settings_label(json.loads(r["settings_json"]))
        except (*_READ_ERRORS, AttributeError) as exc:
            bad = _first_bad_row(rows)
            raise StoreError(f"store {self.path}: cannot read simulation {bad}: {exc}") from exc
        frame = pd.DataFrame({
            "sim_id": [r["id"] for r in rows], "alpha_id": [r["alpha_id"] for r in rows],
            "expression": [r["expression"] for r in rows], "dataset_id": [r["dataset_id"] for r in rows],
            "settings": [labels[r["settings_json"]] for r in rows],
            "created_at": [r["created_at"] for r in rows], "run": [str(r["run"] or "") for r in rows],
            "degenerate": [r["degenerate_reason"] or "" for r in rows],
            "checks_passed": passed, "checks_total": [len(c) for c in checks],
        })
        frame[columns] = values.reshape(len(rows), len(columns))
        frame.index = pd.Index(frame["alpha_id"].to_numpy())
        return frame

    def sort_keys(self) -> list[str]:
        """Every accepted :attr:`TableQuery.sort` value."""
        return [*_PLAIN_SORTS, *(f"{s}.{m}" for s in self.splits for m in TABLE_METRICS)]

    def choices(self, column: str) -> list[str]:
        """The distinct values of ``dataset_id`` or ``settings`` (for the filter menus), sorted."""
        if self._frame.empty:
            return []
        return sorted(self._frame[column].unique().tolist())

    def page(self, query: TableQuery) -> TablePage:
        """The rows of ``query``'s page.

        Raises:
            StoreError: a sort key the index does not have (names the ones there are).
        """
        frame = self._frame
        if query.sort not in self.sort_keys():
            raise StoreError(f"unknown sort column {query.sort!r}; one of {', '.join(self.sort_keys())}")
        if frame.empty:
            return TablePage([], 0, 1, query)
        mask = np.ones(len(frame), dtype=bool)
        if query.dataset:
            mask &= (frame["dataset_id"] == query.dataset).to_numpy()
        if query.settings:
            mask &= (frame["settings"] == query.settings).to_numpy()
        if query.passed:
            all_passed = (frame["checks_passed"] == frame["checks_total"]).to_numpy()
            mask &= all_passed if query.passed == "yes" else ~all_passed
        if query.search:
            mask &= frame["expression"].str.contains(query.search, case=False, regex=False).to_numpy()
        view = frame[mask]
        total = len(view)
        pages = max(1, -(-total // query.per_page))
        start = (query.page - 1) * query.per_page
        if start >= total:
            return TablePage([], total, pages, query)
        # the frame is ordered by alpha id, so a stable sort breaks ties by alpha id
        order = view[query.sort].sort_values(ascending=query.direction == "asc", na_position="last",
                                             kind="stable")
        rows = view.loc[order.index[start:start + query.per_page]].to_dict("records")
        return TablePage(rows, total, pages, query)


def _first_bad_row(rows: list[Any]) -> str:
    """``"ID of alpha 'X'"`` for the first row whose checks, settings or metrics are not JSON."""
    for r in rows:
        try:
            for column in ("checks_json", "settings_json", "metrics"):
                json.loads(r[column])
        except (ValueError, TypeError):
            return f"{r['id']} of alpha {r['alpha_id']!r} (bad {column})"
    return "(unknown row)"


def _bad_json(con: ReadConnection) -> str:
    """`` (simulation ID of alpha 'X', bad COLUMN)`` for the first row with a JSON column the database
    cannot read, else ``""``."""
    for column in ("metrics_json", "metadata_json"):
        try:
            row = con.bad_json_row(column)
        except con.errors:
            return ""
        if row is not None:
            return f" (simulation {row['id']} of alpha {row['alpha_id']!r}, bad {column})"
    return ""


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    """The cursor's rows as ``{column: value}`` dicts (SQLite and PostgreSQL rows alike)."""
    names = [getattr(c, "name", None) or c[0] for c in cursor.description or ()]
    return [dict(zip(names, tuple(r))) for r in cursor.fetchall()]


def _generic_rows(con: ReadConnection, table: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of ``table`` as dicts (newest first)."""
    return _dicts(con.execute(f'SELECT * FROM "{table}" ORDER BY {con.insertion_order} DESC LIMIT ?',
                              (int(limit),)))


def pools(con: ReadConnection, limit: int = 200) -> list[dict[str, Any]]:
    """The stored pools (rows of a ``pools`` table, newest first); ``[]`` when the store has none.

    Each dict holds the table's columns and ``members``: the rows of the member table of that pool,
    matched on ``pool_id`` (the pool's ``pool_id`` or ``id`` column). The member table is
    ``pool_members`` when it exists, else the first other ``pool_*`` table with a ``pool_id`` column;
    without one, ``members`` is ``[]``. The columns are shown as stored, so the page follows the pool
    schema as it grows.
    """
    names = table_names(con)
    if "pools" not in names:
        return []
    out = _generic_rows(con, "pools", limit)
    candidates = ["pool_members"] + [t for t in names if t.startswith("pool_") and t != "pool_members"]
    member_table = next((t for t in candidates if t in names and "pool_id" in
                         set(con.columns(t))), None)
    for pool in out:
        key = pool.get("pool_id", pool.get("id"))
        pool["members"] = [] if member_table is None or key is None else _dicts(con.execute(
            f'SELECT * FROM "{member_table}" WHERE pool_id = ? ORDER BY {con.insertion_order}', (key,)))
    return out


def runs(con: ReadConnection, index: AlphaIndex, limit: int = 200) -> list[dict[str, Any]]:
    """What the store knows of training runs: the rows of a ``runs`` table when there is one, else the
    alphas grouped by the ``run`` their simulation metadata names; ``[]`` when neither exists.

    Grouped runs hold ``run``, ``alphas`` (count), ``first`` / ``last`` (found at) and ``best`` (the
    five alphas of the run with the highest train Sharpe: id, expression, Sharpe).
    """
    if "runs" in table_names(con):
        return _generic_rows(con, "runs", limit)
    frame = index.frame
    if frame.empty or not (frame["run"] != "").any():
        return []
    out = []
    sharpe = "train.sharpe" if "train.sharpe" in frame.columns else None
    for run, group in frame[frame["run"] != ""].groupby("run", sort=True):
        best = group.sort_values(sharpe, ascending=False, na_position="last") if sharpe else group
        out.append({
            "run": run, "alphas": len(group), "first": group["created_at"].min(),
            "last": group["created_at"].max(),
            "best": best.head(5)[["alpha_id", "expression", *([sharpe] if sharpe else [])]]
            .to_dict("records"),
        })
    return out[:limit]


def load_pnl(con: ReadConnection, alpha_ids: list[str], path: str | Path
             ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``alpha_id -> (dates, net pnl)`` of the latest simulation of each alpha (ids not stored are left
    out). Raises :class:`StoreError` naming the store and alpha for a damaged series."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for start in range(0, len(alpha_ids), 500):
        chunk = alpha_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        try:
            rows = con.execute(
                "SELECT s.alpha_id, p.n_days, p.dates, p.pnl FROM pnl_series p"
                " JOIN simulations s ON s.id = p.simulation_id"
                f" WHERE s.id IN (SELECT MAX(id) FROM simulations WHERE alpha_id IN ({marks})"
                " GROUP BY alpha_id)",
                chunk,
            ).fetchall()
        except con.errors as exc:
            raise StoreError(f"store {path}: cannot read PnL series: {exc}") from exc
        for r in rows:
            try:
                n = int(r["n_days"])
                dates = _unpack(r["dates"], "<i8", n).astype("datetime64[D]")
                pnl = _unpack(r["pnl"], "<f8", n).astype(np.float64)
            except (zlib.error, ValueError, TypeError) as exc:
                raise StoreError(f"store {path}: corrupt PnL series of alpha {r['alpha_id']!r}: {exc}"
                                 ) from exc
            out[r["alpha_id"]] = (dates, pnl)
    return out


def _aligned(series: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``(dates, (n, T) pnl)`` on the union of dates; NaN where a series has no value."""
    dates = np.unique(np.concatenate([d for d, _ in series])) if series else np.array([], "datetime64[D]")
    out = np.full((len(series), dates.shape[0]), np.nan)
    for i, (d, p) in enumerate(series):
        out[i, np.searchsorted(dates, d)] = p
    return dates, out


def correlation_matrix(series: list[tuple[np.ndarray, np.ndarray]], min_overlap: int = 20) -> np.ndarray:
    """``(n, n)`` Pearson correlations of daily PnL on the common finite days of each pair (NaN with
    fewer than ``min_overlap`` of them, 0 when a series is flat there)."""
    _, values = _aligned(series)
    n = len(series)
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i, n):
            ok = np.isfinite(values[i]) & np.isfinite(values[j])
            if ok.sum() < min_overlap:
                continue
            a = values[i, ok] - values[i, ok].mean()
            b = values[j, ok] - values[j, ok].mean()
            den = math.sqrt(float(a @ a) * float(b @ b))
            out[i, j] = out[j, i] = float(a @ b) / den if den > 0 else 0.0
    return out


def _masked_correlations(x: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of ``x`` ``(T,)`` with each row of ``ys`` ``(k, T)`` on the days where both
    are finite; returns ``(correlations (k,), days (k,))`` (0 where a series is flat, NaN without days)."""
    mask = np.isfinite(ys) & np.isfinite(x)[None, :]
    days = mask.sum(axis=1)
    xs = np.where(mask, x[None, :], 0.0)
    ys = np.where(mask, ys, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xs = xs - (xs.sum(axis=1) / days)[:, None] * mask
        ys = ys - (ys.sum(axis=1) / days)[:, None] * mask
        den = np.sqrt((xs * xs).sum(axis=1) * (ys * ys).sum(axis=1))
        corr = np.where(den > 0, (xs * ys).sum(axis=1) / np.where(den > 0, den, 1.0), 0.0)
    return np.where(days > 0, corr, np.nan), days


def similar_alphas(con: ReadConnection, index: AlphaIndex, alpha_id: str, *, n: int = 10,
                   candidates: int = 2000, min_overlap: int = 20) -> list[dict[str, Any]]:
    """The ``n`` stored alphas whose daily net PnL correlates most (by ``|corr|``) with ``alpha_id``'s.

    Searched among the ``candidates`` alphas of the same dataset with the highest train Sharpe (reading
    every PnL series of a 100,000-alpha store per page view would take seconds). Each dict: ``alpha_id``,
    ``expression``, ``correlation``, ``days`` (common days).
    """
    frame = index.frame
    if alpha_id not in frame.index:
        return []
    me = frame.loc[alpha_id]
    pool = frame[(frame["dataset_id"] == me["dataset_id"]) & (frame.index != alpha_id)]
    if "train.sharpe" in pool.columns:
        pool = pool.sort_values("train.sharpe", ascending=False, na_position="last")
    ids = pool.index[:candidates].tolist()
    pnl = load_pnl(con, [alpha_id, *ids], index.path)
    if alpha_id not in pnl:
        return []
    d0, p0 = pnl.pop(alpha_id)
    out = []
    same = [k for k, (d, _) in pnl.items() if d.shape == d0.shape and bool((d == d0).all())]
    if same:  # the usual case, one panel's dates: every correlation at once
        corr, days = _masked_correlations(p0, np.stack([pnl[k][1] for k in same]))
        out += [{"alpha_id": k, "correlation": float(c), "days": int(m)}
                for k, c, m in zip(same, corr, days) if m >= min_overlap]
    for other in sorted(set(pnl) - set(same)):
        d, p = pnl[other]
        _, ia, ib = np.intersect1d(d0, d, assume_unique=True, return_indices=True)
        corr, days = _masked_correlations(p0[ia], p[ib][None, :])
        if days[0] >= min_overlap:
            out.append({"alpha_id": other, "correlation": float(corr[0]), "days": int(days[0])})
    for r in out:
        r["expression"] = frame.at[r["alpha_id"], "expression"]
    out.sort(key=lambda r: (-abs(r["correlation"]), r["alpha_id"]))
    return out[:n]
