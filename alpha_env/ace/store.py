"""``AlphaStore``: simulated and submitted alphas in SQLite (WAL) or PostgreSQL, safe for several writers.

A file path (or ``sqlite:///PATH``) is an embedded SQLite store; ``postgresql://user@host/db`` is a
PostgreSQL database that every worker of a cluster can share (optional extra ``alpha-env[postgres]``).
One schema and one set of statements serve both; :mod:`alpha_env.ace.store_backends` carries what differs.

Schema (version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version`` or PostgreSQL's ``alpha_env_meta``
table; :data:`MIGRATIONS` upgrades an older store in place, a newer store is refused):

| table          | one row per                    | columns                                                  |
|----------------|--------------------------------|----------------------------------------------------------|
| `alphas`       | alpha id                       | expression, settings (JSON), dataset id, created at      |
| `simulations`  | simulate() call                | alpha id, created at, code version, run time, degenerate |
|                |                                | reason, metrics / yearly / checks / metadata (JSON)      |
| `pnl_series`   | simulation                     | dates (int64 days since 1970), pnl and turnover (float64)|
| `submissions`  | submit() call                  | alpha id, simulation id, submitted at, passed, checks    |
| `pools`        | stored pool (schema 2)         | pool id (its alpha id), model, pool settings, in-sample  |
| `pool_members` | member of a pool (schema 2)    | pool id, position, expression, weight, train IC          |

Schema 2 also adds ``alphas.fingerprint`` (nullable). Dedup: a save of an alpha id that already has a
simulation from the same code version, or of a fingerprint another alpha on the same dataset and settings
has, writes nothing (:meth:`AlphaStore.save`).

Concurrency: every record (alpha + simulation + PnL series, or a submission) is written in one
transaction that holds the store's write lock (SQLite: WAL, ``busy_timeout`` and ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-scoped advisory lock and ``lock_timeout``), retried with back-off while another
process holds it. A process killed mid-transaction leaves no partial record: SQLite rolls the open
transaction back when the database is next opened, PostgreSQL when the connection drops.

Damage: every read raises :class:`~alpha_env.errors.StoreError` naming the store (and the alpha id and
simulation row where one is at fault) for damaged pages, malformed JSON, corrupt PnL blobs or missing
tables, never a raw ``sqlite3``/``psycopg``/``json``/``zlib`` error. A foreign database (schema version 0
holding other tables) is refused, and ``AlphaStore(path, create=False)`` (the read commands) never
creates a file or tables.
"""

from __future__ import annotations

import json
import math
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from alpha_env.ace.checks import CheckResult, all_passed
from alpha_env.ace.result import SimulationResult
from alpha_env.ace.store_backends import Backend, is_store_url, open_backend
from alpha_env.backtest.metrics import METRIC_NAMES
from alpha_env.errors import StoreError

__all__ = [
    "AlphaStore", "SCHEMA_VERSION", "MIGRATIONS", "TABLES", "POOL_TABLES", "TABLES_BY_VERSION", "DEFAULT_DB",
    "default_db_path",
]

#: Default file name of the store in the working directory (``$ALPHA_ENV_DB`` overrides it).
DEFAULT_DB = "alpha_env.db"

_T = TypeVar("_T")

#: ``(version, SQL)``: the statements that bring a database from ``version - 1`` to ``version``.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE alphas (
            alpha_id      TEXT PRIMARY KEY,
            expression    TEXT NOT NULL,
            settings_json TEXT NOT NULL,
            dataset_id    TEXT NOT NULL,
            created_at    TEXT NOT NULL
        );
        CREATE TABLE simulations (
            id                INTEGER PRIMARY KEY AUTOINCREMENT,
            alpha_id          TEXT NOT NULL REFERENCES alphas(alpha_id),
            created_at        TEXT NOT NULL,
            code_version      TEXT NOT NULL,
            run_time_s        REAL NOT NULL,
            degenerate_reason TEXT,
            metrics_json      TEXT NOT NULL,
            yearly_json       TEXT NOT NULL,
            checks_json       TEXT NOT NULL,
            metadata_json     TEXT NOT NULL
        );
        CREATE INDEX simulations_alpha ON simulations(alpha_id, id);
        CREATE TABLE pnl_series (
            simulation_id INTEGER PRIMARY KEY REFERENCES simulations(id) ON DELETE CASCADE,
            n_days        INTEGER NOT NULL,
            dates         BLOB NOT NULL,
            pnl           BLOB NOT NULL,
            turnover      BLOB NOT NULL
        );
        CREATE TABLE submissions (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            alpha_id      TEXT NOT NULL REFERENCES alphas(alpha_id),
            simulation_id INTEGER REFERENCES simulations(id),
            submitted_at  TEXT NOT NULL,
            passed        INTEGER NOT NULL,
            checks_json   TEXT NOT NULL
        );
        CREATE INDEX submissions_alpha ON submissions(alpha_id);
        """,
    ),
    (
        2,
        """
        ALTER TABLE alphas ADD COLUMN fingerprint TEXT;
        CREATE INDEX alphas_fingerprint ON alphas(fingerprint, dataset_id);
        CREATE TABLE pools (
            pool_id            TEXT PRIMARY KEY REFERENCES alphas(alpha_id),
            model              TEXT NOT NULL,
            pool_settings_json TEXT NOT NULL,
            in_sample_json     TEXT NOT NULL,
            created_at         TEXT NOT NULL
        );
        CREATE TABLE pool_members (
            pool_id    TEXT NOT NULL REFERENCES pools(pool_id),
            position   INTEGER NOT NULL,
            expression TEXT NOT NULL,
            weight     REAL,
            ic         REAL,
            PRIMARY KEY (pool_id, position)
        );
        """,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

#: The alpha tables (what :meth:`AlphaStore.counts` counts).
TABLES: tuple[str, ...] = ("alphas", "simulations", "pnl_series", "submissions")
#: The pool tables (schema version 2 on): a pool's members and weights; its simulation is an alpha row.
POOL_TABLES: tuple[str, ...] = ("pools", "pool_members")
#: The tables a store of each schema version holds (checked when a store is opened).
TABLES_BY_VERSION: dict[int, tuple[str, ...]] = {1: TABLES, 2: TABLES + POOL_TABLES}

#: What a read may raise on a damaged row, besides the driver's errors (turned into :class:`StoreError`).
_READ_ERRORS: tuple[type[BaseException], ...] = (ValueError, zlib.error, KeyError, IndexError, TypeError)


def default_db_path() -> Path | str:
    """``$ALPHA_ENV_DB`` if set, else ``alpha_env.db`` in the working directory.

    A ``postgresql://`` URL is returned as it is (a ``Path`` would fold its ``//``).
    """
    text = os.environ.get("ALPHA_ENV_DB") or DEFAULT_DB
    return text if is_store_url(text) else Path(text)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _pack(array: np.ndarray, dtype: str) -> bytes:
    return zlib.compress(np.ascontiguousarray(array, dtype=dtype).tobytes(), 1)


def _unpack(blob: bytes, dtype: str, n: int) -> np.ndarray:
    """Inverse of :func:`_pack`; raises ``ValueError`` / ``zlib.error`` on a corrupt blob."""
    if not isinstance(blob, bytes):
        raise ValueError(f"series is {type(blob).__name__}, not a blob")
    raw = zlib.decompress(blob)
    if len(raw) % np.dtype(dtype).itemsize:
        raise ValueError(f"series of {len(raw)} bytes is not a whole number of {dtype} values")
    arr = np.frombuffer(raw, dtype=dtype)
    if arr.shape[0] != n:
        raise ValueError(f"series has {arr.shape[0]} values, expected {n}")
    return arr


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (JSON ``null``).

    A metric can be undefined (an alpha valid on train may have no finite PnL on valid): it is stored
    as ``null`` rather than rejected, and read back as NaN by :func:`_nan_from_null`.
    """
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    return value


def _nan_from_null(value: Any) -> Any:
    """Inverse of :func:`_json_safe` for metric dictionaries: ``None`` values become NaN."""
    if isinstance(value, dict):
        return {k: (math.nan if v is None else _nan_from_null(v)) for k, v in value.items()}
    return value


class AlphaStore:
    """Store of alphas, simulations, PnL series, submissions and pools (SQLite or PostgreSQL).

    Args:
        path_or_url: a file path, ``sqlite:///PATH``, ``":memory:"``, or
            ``postgresql://user[:password]@host[:port]/db`` (needs ``alpha-env[postgres]``).
        busy_timeout_s: how long one statement waits for another process's lock.
        retries: how many times a write transaction is retried when the database stays locked.
        create: create the file and its tables when missing (``False`` for read-only use: a missing
            file or one without the alpha tables is a :class:`StoreError` and nothing is written).

    ``path`` is what messages name: the file path, or the URL without its password.

    Raises:
        StoreError: a missing folder, a file that is not SQLite, damaged, from a newer alpha-env, a
            foreign database (other tables, no alpha-env schema version), an unreachable server, or a
            PostgreSQL URL without the driver installed.

    One instance per process (connections are not shared across processes or threads). Use as a
    context manager or call :meth:`close`.
    """

    def __init__(
        self,
        path_or_url: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 30.0,
        retries: int = 20,
        create: bool = True,
    ):
        self._b: Backend = open_backend(path_or_url)
        self.path = self._b.label
        self._retries = max(1, int(retries))
        self._busy_ms = max(0, int(busy_timeout_s * 1000))
        self._create = bool(create)
        self._con = self._b.connect(create=create, busy_timeout_s=busy_timeout_s)
        try:
            self._retry(self._configure)
            self._retry(self._migrate)
        except BaseException:
            self._con.close()
            raise

    # -- connection ---------------------------------------------------------------------------------
    def _inspect(self) -> tuple[int, list[str]]:
        """``(schema version, user tables)`` of the open database, from one snapshot."""
        return self._b.inspect(self._con)

    def _run(self, sql: str, args: Any = ()) -> Any:
        """Execute ``sql`` (SQLite dialect, ``?`` placeholders) on this store's database; the cursor."""
        return self._con.execute(self._b.sql(sql), args)

    def _check_schema(self, version: int, tables: list[str]) -> None:
        """Refuse a newer schema, a foreign database, a damaged store, or (``create=False``) a bare file."""
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version}, newer than this alpha-env "
                f"({SCHEMA_VERSION}); upgrade alpha-env"
            )
        if version == 0 and tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(f"{self.path} is not an alpha-env store (schema version 0, tables {shown})")
        if version == 0 and not self._create:
            raise StoreError(f"{self.path} is not an alpha-env store (an empty {self._b.empty_name})")
        if version > 0:
            missing = [t for t in TABLES_BY_VERSION[version] if t not in tables]
            if missing:
                raise StoreError(
                    f"store {self.path} is damaged: schema version {version} without table "
                    f"{', '.join(missing)}"
                )

    def _configure(self) -> None:
        self._b.configure_before(self._con, self._busy_ms)
        self._check_schema(*self._inspect())  # before WAL: a refused file is left as it was
        self._b.configure_after(self._con)

    def _migrate(self) -> None:
        version, _ = self._inspect()
        if version == SCHEMA_VERSION:
            return
        with self._transaction(exclusive=True):
            version, tables = self._inspect()  # another process may have won
            self._check_schema(version, tables)
            for target, sql in MIGRATIONS:
                if target > version:
                    for statement in self._b.migration(sql):
                        self._con.execute(statement)
                    self._b.set_version(self._con, target)

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Turn any error of a read (damaged page, bad JSON, bad blob, missing table) into StoreError."""
        try:
            yield
        except StoreError:
            raise
        except (*_READ_ERRORS, *self._b.errors) as exc:
            detail = str(exc) or type(exc).__name__
            raise StoreError(f"store {self.path}: cannot read {what}: {detail}") from exc

    @contextmanager
    def _transaction(self, *keys: str, exclusive: bool = False) -> Iterator[Callable[..., Any]]:
        """A write transaction holding the store's write lock; yields :meth:`_run`.

        ``keys`` name what the transaction's dedup reads depend on (alpha id, fingerprint): PostgreSQL
        serialises only the writers that share one (SQLite has one writer at a time anyway);
        ``exclusive`` (migrations) waits for every writer.
        """
        self._b.begin(self._con, keys, exclusive=exclusive)
        try:
            yield self._run
            self._con.execute("COMMIT")
        except BaseException:
            try:
                if self._b.in_transaction(self._con):
                    self._con.execute("ROLLBACK")
            except self._b.errors:  # a dropped connection: the server rolled back; report the first error
                pass
            raise

    def _retry(self, fn: Callable[[], _T]) -> _T:
        delay = 0.005
        for attempt in range(self._retries):
            try:
                return fn()
            except self._b.errors as exc:
                if not self._b.is_busy(exc) or attempt == self._retries - 1:
                    detail = " ".join(str(exc).split()) or type(exc).__name__
                    raise StoreError(f"store {self.path}: {detail}") from exc
                # back off with a per-process jitter (no shared RNG state)
                time.sleep(delay * (1.0 + (os.getpid() % 7) / 7.0))
                delay = min(delay * 2.0, 1.0)
            except UnicodeDecodeError as exc:  # damaged pages can hold text that is not UTF-8
                raise StoreError(f"store {self.path} is damaged: text that is not UTF-8 ({exc})") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> AlphaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """Schema version of the open database."""
        with self._reading("the schema version"):
            return self._inspect()[0]

    # -- writes -------------------------------------------------------------------------------------
    def save(self, result: SimulationResult, *, fingerprint: str | None = None) -> int:
        """Store one simulation (its alpha row if new, the simulation, its PnL) in one transaction.

        Deduplication (issue 15): nothing is written when

        * the alpha id already has a simulation from the same code version (the id covers the canonical
          expression, the settings and the dataset, so the stored result is this one): that simulation's
          id is returned;
        * ``fingerprint`` (:func:`alpha_env.pool.signal_fingerprint` of the train signal) equals the
          fingerprint of another stored alpha with the same dataset and settings: the two are one alpha,
          the stored one's latest simulation id is returned and ``result.metadata["duplicate_of"]`` names
          it.

        A new alpha row records ``fingerprint`` (a stored row without one gets it). Returns the simulation
        id (also written to ``result.metadata["simulation_id"]``).
        """

        def write() -> int:
            keys = (f"alpha {result.alpha_id}",) + (
                () if fingerprint is None else (_fingerprint_key(fingerprint, result),))
            with self._transaction(*keys) as con:
                return self._write(con, result, fingerprint)

        sim_id = self._retry(write)
        result.metadata["simulation_id"] = sim_id
        return sim_id

    def _write(self, run: Callable[..., Any], result: SimulationResult, fingerprint: str | None) -> int:
        """The rows of :meth:`save`, inside the caller's transaction; returns the simulation id."""
        meta = dict(result.metadata)
        meta.pop("simulation_id", None)
        meta.pop("duplicate_of", None)
        settings_json = json.dumps(result.settings, sort_keys=True)
        code_version = str(meta.get("code_version", ""))
        if fingerprint is not None:
            dup = run(
                "SELECT alpha_id FROM alphas WHERE fingerprint = ? AND dataset_id = ? AND settings_json = ?"
                " AND alpha_id != ? ORDER BY created_at, alpha_id LIMIT 1",
                (fingerprint, result.dataset_id, settings_json, result.alpha_id),
            ).fetchone()
            if dup is not None:
                sim = run(
                    "SELECT MAX(id) FROM simulations WHERE alpha_id = ?", (dup[0],)
                ).fetchone()[0]
                if sim is not None:
                    result.metadata["duplicate_of"] = str(dup[0])
                    return int(sim)
        run(
            "INSERT OR IGNORE INTO alphas(alpha_id, expression, settings_json, dataset_id, created_at,"
            " fingerprint) VALUES (?, ?, ?, ?, ?, ?)",
            (result.alpha_id, result.expression, settings_json, result.dataset_id, _now(), fingerprint),
        )
        if fingerprint is not None:
            run("UPDATE alphas SET fingerprint = ? WHERE alpha_id = ? AND fingerprint IS NULL",
                        (fingerprint, result.alpha_id))
        same = run(
            "SELECT MAX(id) FROM simulations WHERE alpha_id = ? AND code_version = ?",
            (result.alpha_id, code_version),
        ).fetchone()[0]
        if same is not None:
            return int(same)
        dates = np.asarray(result.dates, dtype="datetime64[D]").astype(np.int64)
        row = (
            json.dumps(_json_safe(result.metrics), allow_nan=False),
            json.dumps(_json_safe(result.yearly), allow_nan=False),
            json.dumps(_json_safe([c.to_dict() for c in result.checks]), allow_nan=False),
            json.dumps(_json_safe(meta), allow_nan=False, default=str),
        )
        blobs = (_pack(dates, "<i8"), _pack(result.pnl, "<f8"), _pack(result.turnover, "<f8"))
        cur = run(
            "INSERT INTO simulations(alpha_id, created_at, code_version, run_time_s,"
            " degenerate_reason, metrics_json, yearly_json, checks_json, metadata_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (result.alpha_id, _now(), code_version, float(meta.get("run_time_s", 0.0)),
             result.degenerate_reason, *row),
        )
        sim_id = int(cur.fetchone()[0])
        run(
            "INSERT INTO pnl_series(simulation_id, n_days, dates, pnl, turnover) VALUES (?, ?, ?, ?, ?)",
            (sim_id, int(dates.shape[0]), *blobs),
        )
        return sim_id

    def save_pool(self, result: SimulationResult, pool_info: Mapping[str, Any] | None = None) -> int:
        """Store a pool's simulation (as an alpha: id, key, PnL, metrics) with its members and weights.

        Args:
            result: the pool's :class:`SimulationResult` (:func:`alpha_env.ace.pools.simulate_pool`).
            pool_info: ``model``, ``pool_settings`` (dict), ``in_sample`` (the splits the weights were
                fitted on) and ``members`` (dicts with ``expression``, ``weight``, ``ic``); default
                ``result.metadata["pool"]``.

        A pool already stored (same id) keeps its rows. Returns the simulation id.
        """
        info = pool_info if pool_info is not None else result.metadata.get("pool")
        if not isinstance(info, Mapping):
            raise StoreError(f"pool {result.alpha_id!r}: no pool description (members, weights, model)")
        try:
            members = [(str(m["expression"]), _finite_or_none(m.get("weight")), _finite_or_none(m.get("ic")))
                       for m in info["members"]]
            model = str(info["model"])
            pool_json = json.dumps(_json_safe(dict(info.get("pool_settings", {}))), sort_keys=True,
                                   allow_nan=False, default=str)
            in_sample = json.dumps(list(info.get("in_sample", ["train"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"pool {result.alpha_id!r}: bad pool description: {exc}") from None

        def write() -> int:
            with self._transaction(f"alpha {result.alpha_id}") as run:
                sim_id = self._write(run, result, None)
                cur = run(
                    "INSERT OR IGNORE INTO pools(pool_id, model, pool_settings_json, in_sample_json,"
                    " created_at) VALUES (?, ?, ?, ?, ?)",
                    (result.alpha_id, model, pool_json, in_sample, _now()),
                )
                if cur.rowcount:
                    self._con.cursor().executemany(self._b.sql(
                        "INSERT INTO pool_members(pool_id, position, expression, weight, ic)"
                        " VALUES (?, ?, ?, ?, ?)"),
                        [(result.alpha_id, i, e, w, ic) for i, (e, w, ic) in enumerate(members)],
                    )
                return sim_id

        sim_id = self._retry(write)
        result.metadata["simulation_id"] = sim_id
        return sim_id

    def submit(self, alpha_id: str, checks: list[CheckResult]) -> int:
        """Record a submission of the latest simulation of ``alpha_id`` with its checks.

        The submission counts as "submitted" for later correlation checks only when every check
        passed. Returns the submission id.
        """
        sim = self._latest_simulation_id(alpha_id)
        payload = json.dumps([c.to_dict() for c in checks], allow_nan=False)
        passed = int(all_passed(checks))

        def write() -> int:
            with self._transaction(f"alpha {alpha_id}") as run:
                cur = run(
                    "INSERT INTO submissions(alpha_id, simulation_id, submitted_at, passed, checks_json)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (alpha_id, sim, _now(), passed, payload),
                )
                return int(cur.fetchone()[0])

        return self._retry(write)

    # -- reads --------------------------------------------------------------------------------------
    def _latest_simulation_id(self, alpha_id: str) -> int:
        with self._reading(f"the simulations of alpha {alpha_id!r}"):
            row = self._run(
                "SELECT MAX(id) FROM simulations WHERE alpha_id = ?", (alpha_id,)
            ).fetchone()
        if row is None or row[0] is None:
            raise StoreError(f"unknown alpha id {alpha_id!r} in store {self.path}")
        return int(row[0])

    def __contains__(self, alpha_id: object) -> bool:
        with self._reading("the alphas table"):
            row = self._run("SELECT 1 FROM alphas WHERE alpha_id = ?", (alpha_id,)).fetchone()
        return row is not None

    def get(self, alpha_id: str) -> SimulationResult:
        """The latest simulation of ``alpha_id`` (``backtest`` is ``None``: weights are not stored).

        Raises:
            StoreError: unknown id, or its rows are damaged (names the alpha and the simulation row).
        """
        return self._load(self._latest_simulation_id(alpha_id))

    def _load(self, sim_id: int) -> SimulationResult:
        with self._reading(f"simulation {sim_id}"):
            row = self._run(
                "SELECT s.*, a.expression, p.n_days, p.dates, p.pnl, p.turnover FROM simulations s"
                " JOIN alphas a ON a.alpha_id = s.alpha_id JOIN pnl_series p ON p.simulation_id = s.id"
                " WHERE s.id = ?",
                (sim_id,),
            ).fetchone()
        if row is None:
            raise StoreError(f"simulation {sim_id} has no PnL series in store {self.path}")
        with self._reading(f"simulation {sim_id} of alpha {row['alpha_id']!r}"):
            n = int(row["n_days"])
            meta = _json_object(row["metadata_json"], "metadata_json")
            meta["simulation_id"] = int(row["id"])
            return SimulationResult(
                alpha_id=row["alpha_id"],
                expression=row["expression"],
                metrics=_nan_from_null(_metric_table(row["metrics_json"], "metrics_json")),
                yearly=_nan_from_null(_metric_table(row["yearly_json"], "yearly_json")),
                pnl=_column(_unpack, row["pnl"], "<f8", n, name="pnl").astype(np.float64),
                turnover=_column(_unpack, row["turnover"], "<f8", n, name="turnover").astype(np.float64),
                dates=_column(_unpack, row["dates"], "<i8", n, name="dates").astype("datetime64[D]"),
                checks=[CheckResult.from_dict(c) for c in _json_list(row["checks_json"], "checks_json")],
                metadata=meta,
                degenerate_reason=row["degenerate_reason"],
            )

    def duplicate_of(self, fingerprint: str, dataset_id: str, settings: Mapping[str, Any]) -> str | None:
        """The stored alpha whose signal fingerprint, dataset and settings are these (first stored), or
        ``None``: a new alpha with this fingerprint is that one (:meth:`save` adds no row for it)."""
        settings_json = json.dumps(dict(settings), sort_keys=True)
        with self._reading("the alpha fingerprints"):
            row = self._run(
                "SELECT alpha_id FROM alphas WHERE fingerprint = ? AND dataset_id = ? AND settings_json = ?"
                " ORDER BY created_at, alpha_id LIMIT 1",
                (fingerprint, dataset_id, settings_json),
            ).fetchone()
        return None if row is None else str(row[0])

    def is_pool(self, alpha_id: str) -> bool:
        """``alpha_id`` is a stored pool."""
        with self._reading("the pools table"):
            row = self._run("SELECT 1 FROM pools WHERE pool_id = ?", (alpha_id,)).fetchone()
        return row is not None

    def get_pool(self, pool_id: str) -> dict[str, Any]:
        """A stored pool: ``pool_id``, ``key`` (its canonical text), ``dataset_id``, ``settings``,
        ``model``, ``pool_settings``, ``in_sample``, ``members`` (``expression``, ``weight``, ``ic``, in
        stored order), ``created_at`` and ``result`` (its latest :class:`SimulationResult`).

        Raises:
            StoreError: unknown pool id (an alpha id that is no pool says so), or damaged rows.
        """
        with self._reading(f"pool {pool_id!r}"):
            row = self._run(
                "SELECT p.*, a.expression, a.dataset_id, a.settings_json FROM pools p"
                " JOIN alphas a ON a.alpha_id = p.pool_id WHERE p.pool_id = ?",
                (pool_id,),
            ).fetchone()
            if row is None:
                what = "an alpha, not a pool" if pool_id in self else "unknown pool id"
                raise StoreError(f"{what} {pool_id!r} in store {self.path}")
            members = self._run(
                "SELECT expression, weight, ic FROM pool_members WHERE pool_id = ? ORDER BY position",
                (pool_id,),
            ).fetchall()
            out = {
                "pool_id": row["pool_id"],
                "key": row["expression"],
                "dataset_id": row["dataset_id"],
                "settings": _json_object(row["settings_json"], "settings_json"),
                "model": row["model"],
                "pool_settings": _json_object(row["pool_settings_json"], "pool_settings_json"),
                "in_sample": _json_list(row["in_sample_json"], "in_sample_json"),
                "members": [{"expression": m["expression"], "weight": _nan_if_none(m["weight"]),
                             "ic": _nan_if_none(m["ic"])} for m in members],
                "created_at": row["created_at"],
            }
        out["result"] = self.get(pool_id)
        return out

    def pools(self) -> list[dict[str, Any]]:
        """Every stored pool (oldest first): ``pool_id``, ``model``, ``dataset_id``, ``size``,
        ``created_at``."""
        with self._reading("the pools"):
            rows = self._run(
                "SELECT p.pool_id, p.model, p.created_at, a.dataset_id,"
                " (SELECT COUNT(*) FROM pool_members m WHERE m.pool_id = p.pool_id) AS size"
                " FROM pools p JOIN alphas a ON a.alpha_id = p.pool_id ORDER BY p.created_at, p.pool_id"
            ).fetchall()
        return [{"pool_id": r["pool_id"], "model": r["model"], "dataset_id": r["dataset_id"],
                 "size": int(r["size"]), "created_at": r["created_at"]} for r in rows]

    def splits(self) -> list[str]:
        """The split names found in the stored metrics (first-seen order), e.g. train, valid, test, all."""
        with self._reading("the metrics of the simulations"):
            rows = self._run(self._b.splits_sql()).fetchall()
        return [str(r[0]) for r in rows]

    def _bad_json_row(self, column: str) -> str:
        """`` (simulation ID of alpha 'X')`` for the first row whose ``column`` is not JSON, else ``""``."""
        try:
            row = self._b.bad_json_row(self._con, column)
        except self._b.errors:
            return ""
        return f" (simulation {row['id']} of alpha {row['alpha_id']!r})" if row is not None else ""

    def top(
        self, by: str = "sharpe", split: str = "valid", n: int | None = 20, *, ascending: bool = False,
        dataset_id: str | None = None, pools: bool = True,
    ) -> list[dict[str, Any]]:
        """The best ``n`` alphas by ``metrics[split][by]`` of their latest simulation.

        Args:
            n: how many (``None``: all).
            dataset_id: only the alphas simulated on this dataset.
            pools: include the stored pools (``False``: single alphas only).

        Returns dicts with ``alpha_id``, ``expression``, ``dataset_id``, ``settings`` (dict), ``value``,
        ``metrics`` (that split), ``degenerate_reason``, ``created_at``, ``passed`` (every check of that
        simulation passed), ``checks`` (``[passed, total]``; both ``None`` when the checks row is damaged:
        :meth:`get` names the damage) and ``is_pool``. Degenerate alphas are listed
        last.

        Raises:
            StoreError: unknown metric, a split that no stored simulation has (names the ones there are),
                ``n < 1``, or damaged rows.
        """
        if by not in METRIC_NAMES:
            raise StoreError(f"unknown metric {by!r}; one of {', '.join(METRIC_NAMES)}")
        if not split.isidentifier():
            raise StoreError(f"bad split name {split!r}")
        if n is not None and n < 1:
            raise StoreError(f"n must be >= 1, got {n}")
        order = "ASC" if ascending else "DESC"
        where, args = "", []
        if dataset_id is not None:
            where += " AND a.dataset_id = ?"
            args.append(dataset_id)
        if not pools:
            where += " AND s.alpha_id NOT IN (SELECT pool_id FROM pools)"
        try:
            with self._reading("the best alphas"):
                rows = self._run(
                    "SELECT * FROM (SELECT s.alpha_id, a.expression, a.dataset_id, a.settings_json,"
                    f" s.created_at, s.degenerate_reason, {self._b.json_text('s.metrics_json', '?')}"
                    f" AS split_json, {self._b.json_number('s.metrics_json', ('?', '?'))} AS value,"
                    " s.checks_json, s.alpha_id IN (SELECT pool_id FROM pools) AS is_pool"
                    " FROM simulations s JOIN alphas a ON a.alpha_id = s.alpha_id"
                    " WHERE s.id = (SELECT MAX(id) FROM simulations WHERE alpha_id = s.alpha_id)"
                    f"{where}) q"
                    f" ORDER BY q.degenerate_reason IS NOT NULL, q.value IS NULL, q.value {order}, q.alpha_id"
                    " LIMIT ?",
                    (*self._b.json_path_args(split), *self._b.json_path_args(split, by), *args,
                     self._b.no_limit if n is None else int(n)),
                ).fetchall()
        except StoreError as exc:
            raise StoreError(f"{exc}{self._bad_json_row('metrics_json')}") from exc.__cause__
        if rows and all(r["split_json"] is None for r in rows) and split not in self.splits():
            raise StoreError(
                f"unknown split {split!r} in store {self.path}; one of {', '.join(self.splits())}"
            )
        out = []
        for r in rows:
            with self._reading(f"the latest simulation of alpha {r['alpha_id']!r}"):
                checks = _checks_summary(r["checks_json"])
                out.append({
                    "alpha_id": r["alpha_id"],
                    "expression": r["expression"],
                    "dataset_id": r["dataset_id"],
                    "settings": _json_object(r["settings_json"], "settings_json"),
                    "value": _metric_value(r["value"], f"metrics_json {split}.{by}"),
                    "metrics": _metric_row(_json_object(r["split_json"], split), split) if r["split_json"]
                    else None,
                    "degenerate_reason": r["degenerate_reason"],
                    "created_at": r["created_at"],
                    "passed": None if checks is None else bool(checks[1]) and checks[0] == checks[1],
                    "checks": checks,
                    "is_pool": bool(r["is_pool"]),
                })
        return out

    def submitted(self, *, exclude: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``alpha_id -> (dates, pnl)`` of every alpha with a passed submission (its submitted simulation)."""
        with self._reading("the submissions"):
            rows = self._run(
                "SELECT sub.alpha_id, MAX(sub.simulation_id) AS sim FROM submissions sub"
                " WHERE sub.passed = 1 GROUP BY sub.alpha_id"
            ).fetchall()
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for r in rows:
            if r["alpha_id"] == exclude:
                continue
            with self._reading(f"the PnL of submitted alpha {r['alpha_id']!r} (simulation {r['sim']})"):
                p = self._run(
                    "SELECT n_days, dates, pnl FROM pnl_series WHERE simulation_id = ?", (r["sim"],)
                ).fetchone()
                if p is None:
                    raise StoreError(
                        f"store {self.path}: submitted alpha {r['alpha_id']!r} has no PnL series "
                        f"(simulation {r['sim']})"
                    )
                n = int(p["n_days"])
                out[r["alpha_id"]] = (
                    _column(_unpack, p["dates"], "<i8", n, name="dates").astype("datetime64[D]"),
                    _column(_unpack, p["pnl"], "<f8", n, name="pnl").astype(np.float64),
                )
        return out

    def submissions(self, alpha_id: str | None = None) -> list[dict[str, Any]]:
        """Submission records (newest first), optionally of one alpha."""
        sql = "SELECT id, alpha_id, simulation_id, submitted_at, passed, checks_json FROM submissions"
        args: tuple[Any, ...] = ()
        if alpha_id is not None:
            sql += " WHERE alpha_id = ?"
            args = (alpha_id,)
        with self._reading("the submissions" if alpha_id is None else f"the submissions of {alpha_id!r}"):
            rows = self._run(sql + " ORDER BY id DESC", args).fetchall()
        out = []
        for r in rows:
            with self._reading(f"submission {r['id']} of alpha {r['alpha_id']!r}"):
                out.append({
                    "id": r["id"],
                    "alpha_id": r["alpha_id"],
                    "simulation_id": r["simulation_id"],
                    "submitted_at": r["submitted_at"],
                    "passed": bool(r["passed"]),
                    "checks": _json_list(r["checks_json"], "checks_json"),
                })
        return out

    def counts(self) -> dict[str, int]:
        """Row counts per table."""
        with self._reading("the row counts"):
            return {t: int(self._run(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}

    def integrity_check(self) -> str:
        """``"ok"`` for a sound store, else the list of problems (SQLite: ``PRAGMA integrity_check``;
        PostgreSQL: every table present, every simulation with its PnL series).

        Raises:
            StoreError: the store is too damaged to run the check.
        """
        with self._reading("the file for its integrity check"):
            return self._b.integrity_check(self._con, TABLES_BY_VERSION)


def _fingerprint_key(fingerprint: str, result: SimulationResult) -> str:
    """The lock key of a fingerprint's dedup group (same fingerprint, dataset and settings)."""
    return f"fingerprint {fingerprint} {result.dataset_id} {json.dumps(result.settings, sort_keys=True)}"


def _checks_summary(text: Any) -> list[int] | None:
    """``[passed, total]`` of a ``checks_json`` column, ``None`` when it is not a JSON list of checks."""
    try:
        checks = _json_list(text, "checks_json")
    except ValueError:
        return None
    if not all(isinstance(c, dict) for c in checks):
        return None
    return [sum(bool(c.get("passed")) for c in checks), len(checks)]


def _finite_or_none(value: Any) -> float | None:
    """A float for a finite number, ``None`` (SQL NULL) for NaN/inf/None: a NaN never becomes 0."""
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _nan_if_none(value: Any) -> float:
    return math.nan if value is None else float(value)


def _column(unpack: Callable[..., np.ndarray], blob: Any, dtype: str, n: int, *, name: str) -> np.ndarray:
    """``unpack(blob, dtype, n)`` with the column named in the error."""
    try:
        return unpack(blob, dtype, n)
    except (ValueError, zlib.error, TypeError) as exc:
        raise ValueError(f"corrupt {name} series: {exc}") from exc


def _json_object(text: Any, column: str) -> dict[str, Any]:
    """A JSON object from a text column (``ValueError`` naming the column if it is not one)."""
    value = _json_value(text, column)
    if not isinstance(value, dict):
        raise ValueError(f"{column} is a JSON {type(value).__name__}, not an object")
    return value


def _metric_table(text: Any, column: str) -> dict[str, dict[str, float | None]]:
    """A JSON object of metric rows (split or year → metric → number or null), checked (``ValueError``
    naming the column and key otherwise), so a well-formed but wrong JSON row never reaches a report."""
    table = _json_object(text, column)
    for key, row in table.items():
        if not isinstance(row, dict):
            raise ValueError(f"{column}: {key!r} is a JSON {type(row).__name__}, not an object of metrics")
        _metric_row(row, f"{column} {key}")
    return table


def _metric_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    """``row`` when every value is a number or null (``ValueError`` naming the metric otherwise)."""
    for name, value in row.items():
        _metric_value(value, f"{where}.{name}")
    return row


def _metric_value(value: Any, where: str) -> Any:
    """``value`` when it is a number or ``None`` (``ValueError`` naming ``where`` otherwise)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"{where} is {type(value).__name__} {str(value)[:40]!r}, not a number")
    return value


def _json_list(text: Any, column: str) -> list[Any]:
    """A JSON array from a text column (``ValueError`` naming the column if it is not one)."""
    value = _json_value(text, column)
    if not isinstance(value, list):
        raise ValueError(f"{column} is a JSON {type(value).__name__}, not an array")
    return value


def _json_value(text: Any, column: str) -> Any:
    if not isinstance(text, str | bytes):
        raise ValueError(f"{column} is {type(text).__name__}, not JSON text")
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"malformed JSON in {column}: {exc}") from exc
