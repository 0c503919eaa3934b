"""The SQL dialects behind :class:`~alpha_env.ace.store.AlphaStore`: SQLite (embedded) and PostgreSQL.

The store writes one schema and one set of statements in SQLite's dialect (``?`` placeholders,
``INSERT OR IGNORE``, ``BLOB``); a backend object opens the connection and carries what differs:

* placeholders: ``?`` vs ``%s``; ``INSERT OR IGNORE`` vs ``ON CONFLICT DO NOTHING``;
* column types: ``BLOB``, ``REAL``, ``AUTOINCREMENT`` vs ``BYTEA``, ``DOUBLE PRECISION``, identity column
  (and ``TEXT COLLATE "C"``, so ids and dates sort by bytes as in SQLite);
* schema version: ``PRAGMA user_version`` vs the ``schema_version`` row of table ``alpha_env_meta``;
* write lock: ``BEGIN IMMEDIATE`` + ``busy_timeout`` (one writer at a time) vs ``BEGIN`` +
  transaction-scoped advisory locks + ``lock_timeout``: a shared store lock (exclusive for migrations)
  and one lock per key the dedup reads depend on (the alpha id, the fingerprint group), so writers of
  different alphas run at once;
* JSON in SQL: ``json_extract`` / ``json_each`` vs ``::json ->`` / ``json_each ... WITH ORDINALITY``;
* integrity check: ``PRAGMA integrity_check`` vs every table present and every simulation with its PnL;
* journal: WAL with ``synchronous = NORMAL`` vs the server's own WAL.

The PostgreSQL driver is the optional extra ``alpha-env[postgres]`` (``psycopg[binary]``); it is imported
only when a ``postgresql://`` store is opened.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from alpha_env.errors import StoreError

__all__ = ["Backend", "SqliteBackend", "PostgresBackend", "open_backend", "is_store_url", "URL_SCHEMES"]

#: The URL schemes of a PostgreSQL store (``postgres://`` is libpq's alias).
URL_SCHEMES: tuple[str, ...] = ("postgresql://", "postgres://")

#: The key of the store-wide advisory lock (writers hold it shared, migrations exclusive); any fixed int64.
_PG_LOCK_KEY = 0x616C7068615F656E  # "alpha_en"


def _lock_id(key: str) -> int:
    """A signed int64 advisory-lock id for ``key`` (blake2b; a collision only serialises two writers)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)

#: The table that holds a PostgreSQL store's schema version (SQLite keeps it in ``PRAGMA user_version``).
_PG_META = "alpha_env_meta"


def is_store_url(text: str | os.PathLike[str]) -> bool:
    """``text`` names a database server (``postgresql://...``), not a file."""
    return os.fspath(text).startswith(URL_SCHEMES)


def _redact(url: str) -> str:
    """``url`` without its password (what error messages and ``AlphaStore.path`` show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class _Row(tuple):
    """A result row readable by position and by column name (like ``sqlite3.Row``)."""

    _names: dict[str, int]

    def __new__(cls, values: Any, names: dict[str, int]) -> _Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)


def _pg_row_factory(cursor: Any) -> Any:
    names = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: _Row(values, names)


class Backend:
    """What differs between the store's databases (see the module docstring). One per store."""

    #: The error classes of the driver (a read's error becomes a :class:`StoreError`).
    errors: tuple[type[BaseException], ...] = ()
    #: ``LIMIT`` value meaning "no limit".
    no_limit: Any = -1
    #: What an empty database is called in messages.
    empty_name = "database"

    def __init__(self, label: str):
        self.label = label  # shown in every message (a path, or a URL without its password)
        self._sql_cache: dict[str, str] = {}

    def connect(self, *, create: bool, busy_timeout_s: float) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def sql(self, statement: str) -> str:
        """``statement`` (SQLite dialect) in this backend's dialect."""
        return statement

    def inspect(self, con: Any) -> tuple[int, list[str]]:  # pragma: no cover - abstract
        """``(schema version, user tables)`` of the open database, from one snapshot."""
        raise NotImplementedError

    def configure_before(self, con: Any, busy_ms: int) -> None:
        """Session settings that touch nothing on disk (before the schema is checked)."""

    def configure_after(self, con: Any) -> None:
        """Settings applied once the schema check passed (may write to the database)."""

    def begin(self, con: Any, keys: tuple[str, ...] = (), *, exclusive: bool = False) -> None:
        """Start a write transaction holding the store's write lock (see :meth:`AlphaStore._transaction`)."""
        raise NotImplementedError

    def in_transaction(self, con: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def migration(self, sql: str) -> list[str]:
        """The statements of one :data:`~alpha_env.ace.store.MIGRATIONS` step in this dialect."""
        return [s for s in sql.split(";") if s.strip()]

    def set_version(self, con: Any, version: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_busy(self, exc: BaseException) -> bool:
        """``exc`` means another writer holds the lock (the write is retried)."""
        return False

    def json_text(self, column: str, key_param: str) -> str:
        """SQL for the JSON text of ``column[key]`` (``key_param``: a placeholder for the key)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def json_number(self, column: str, key_params: tuple[str, str]) -> str:
        """SQL for the number ``column[key1][key2]`` (NULL when missing or JSON null)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def json_path_args(self, *keys: str) -> tuple[Any, ...]:
        """The parameters for :meth:`json_text` (one key) or :meth:`json_number` (two keys)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def splits_sql(self) -> str:
        """The split names in the stored metrics, first-seen order."""
        raise NotImplementedError  # pragma: no cover - abstract

    def bad_json_row(self, con: Any, column: str) -> Any:
        """``(id, alpha_id)`` of the first simulation whose ``column`` is not JSON, or ``None``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def integrity_check(self, con: Any, tables_by_version: dict[int, tuple[str, ...]]) -> str:
        """Problems found (one per line), or ``"ok"``; ``tables_by_version`` are the store's tables."""
        raise NotImplementedError  # pragma: no cover - abstract


class SqliteBackend(Backend):
    """An embedded SQLite file (WAL) or ``:memory:``."""

    errors = (sqlite3.Error,)
    empty_name = "SQLite file"

    def connect(self, *, create: bool, busy_timeout_s: float) -> sqlite3.Connection:
        path = self.label
        memory = path == ":memory:"
        if not memory:
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot open store {path}: folder {parent} does not exist")
            if not create and not Path(path).is_file():
                raise StoreError(f"no alpha store at {path}")
        try:
            if create or memory:
                con = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
            else:  # mode=rw: fails instead of creating a file that vanished meanwhile
                uri = f"file:{quote(str(Path(path).resolve()))}?mode=rw"
                con = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from exc
        con.row_factory = sqlite3.Row
        return con

    def inspect(self, con: sqlite3.Connection) -> tuple[int, list[str]]:
        row = con.execute(
            "SELECT (SELECT user_version FROM pragma_user_version),"
            " (SELECT group_concat(name, char(31)) FROM (SELECT name FROM sqlite_master"
            "  WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name))"
        ).fetchone()
        return int(row[0]), (str(row[1]).split("\x1f") if row[1] else [])

    def configure_before(self, con: sqlite3.Connection, busy_ms: int) -> None:
        con.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")

    def configure_after(self, con: sqlite3.Connection) -> None:
        if self.label != ":memory:":
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"store {self.label}: cannot switch to WAL mode (got {mode})")
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute("PRAGMA foreign_keys = ON")

    def begin(self, con: sqlite3.Connection, keys: tuple[str, ...] = (), *, exclusive: bool = False) -> None:
        con.execute("BEGIN IMMEDIATE")  # one writer at a time: keys need no locks of their own

    def in_transaction(self, con: sqlite3.Connection) -> bool:
        return bool(con.in_transaction)

    def set_version(self, con: sqlite3.Connection, version: int) -> None:
        con.execute(f"PRAGMA user_version = {int(version)}")

    def is_busy(self, exc: BaseException) -> bool:
        message = str(exc).lower()
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message)

    def json_text(self, column: str, key_param: str) -> str:
        return f"json_extract({column}, {key_param})"

    def json_number(self, column: str, key_params: tuple[str, str]) -> str:
        return f"json_extract({column}, {key_params[0]})"

    def json_path_args(self, *keys: str) -> tuple[Any, ...]:
        return ("$." + ".".join(f'"{k}"' for k in keys),)

    def splits_sql(self) -> str:
        return ("SELECT j.key FROM simulations s, json_each(s.metrics_json) j"
                " GROUP BY j.key ORDER BY MIN(s.id), MIN(j.id)")

    def bad_json_row(self, con: sqlite3.Connection, column: str) -> Any:
        return con.execute(
            f"SELECT id, alpha_id FROM simulations WHERE NOT json_valid({column}) ORDER BY id LIMIT 1"
        ).fetchone()

    def integrity_check(self, con: sqlite3.Connection, tables_by_version: dict[int, tuple[str, ...]]) -> str:
        return "\n".join(str(r[0]) for r in con.execute("PRAGMA integrity_check").fetchall())


_PG_TYPES = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"),
     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),  # byte order, as SQLite sorts ids and dates
)
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO (.*)$", re.S)


class PostgresBackend(Backend):
    """A PostgreSQL database (``postgresql://user[:password]@host[:port]/db``) through psycopg 3.

    Writers of one alpha id or one fingerprint group serialise on transaction-scoped advisory locks, so
    the dedup rules hold exactly as with SQLite's single writer, while writers of different alphas run
    at once; a killed writer's connection drops, the server rolls its transaction back and the locks go
    with it. Reads run in autocommit, each statement on its own snapshot (as in SQLite).
    """

    no_limit = None
    empty_name = "database"

    def __init__(self, url: str):
        super().__init__(_redact(url))
        self.url = url
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                f"store {self.label} needs the PostgreSQL driver: pip install 'alpha-env[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.errors = (psycopg.Error,)

    def connect(self, *, create: bool, busy_timeout_s: float) -> Any:
        psycopg = self._psycopg
        try:
            con = psycopg.connect(self.url, autocommit=True, row_factory=_pg_row_factory,
                                  connect_timeout=max(1, int(busy_timeout_s)))
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise StoreError(f"cannot open store {self.label}: {detail}") from exc
        return con

    def sql(self, statement: str) -> str:
        out = self._sql_cache.get(statement)
        if out is None:
            out = statement.replace("%", "%%").replace("?", "%s")
            match = _INSERT_OR_IGNORE.match(out)
            if match:
                out = f"INSERT INTO {match.group(1)} ON CONFLICT DO NOTHING"
            self._sql_cache[statement] = out
        return out

    def inspect(self, con: Any) -> tuple[int, list[str]]:
        # One MVCC snapshot for the table list and the version row (a read-only repeatable-read transaction
        # unless a write transaction is open, which holds the migration lock): a catalog lookup such as
        # ``to_regclass`` may see a migration that committed after the statement's snapshot, and a store
        # being created by another process then looked like a version without its tables ("damaged").
        own = not self.in_transaction(con)
        if own:
            con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            row = con.execute(
                "SELECT array(SELECT table_name::text FROM information_schema.tables"
                "  WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                "  ORDER BY table_name COLLATE \"C\")"
            ).fetchone()
            tables = list(row[0])
            version = 0
            if _PG_META in tables:
                tables.remove(_PG_META)
                got = con.execute(f"SELECT value FROM {_PG_META} WHERE key = 'schema_version'").fetchone()
                version = int(got[0]) if got is not None else 0
        except BaseException:
            if own:
                try:
                    con.execute("ROLLBACK")
                except self.errors:  # a dropped connection: report the first error
                    pass
            raise
        if own:
            con.execute("ROLLBACK")  # read only: nothing to keep
        return version, tables

    def configure_before(self, con: Any, busy_ms: int) -> None:
        con.execute(f"SET lock_timeout = {int(busy_ms)}")

    def begin(self, con: Any, keys: tuple[str, ...] = (), *, exclusive: bool = False) -> None:
        con.execute("BEGIN")
        if exclusive:
            con.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
            return
        # the key locks in one sorted order: two writers never wait on each other crosswise
        ids = sorted({_lock_id(k) for k in keys})
        con.execute("SELECT pg_advisory_xact_lock_shared(%s)" + "".join(
            ", pg_advisory_xact_lock(%s)" for _ in ids), (_PG_LOCK_KEY, *ids))

    def in_transaction(self, con: Any) -> bool:
        return con.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE

    def migration(self, sql: str) -> list[str]:
        out = []
        for statement in super().migration(sql):
            for pattern, replacement in _PG_TYPES:
                statement = pattern.sub(replacement, statement)
            out.append(statement)
        return out

    def set_version(self, con: Any, version: int) -> None:
        con.execute(f"CREATE TABLE IF NOT EXISTS {_PG_META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute(
            f"INSERT INTO {_PG_META}(key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(int(version)),),
        )

    def is_busy(self, exc: BaseException) -> bool:
        errors = self._psycopg.errors
        busy = errors.LockNotAvailable | errors.SerializationFailure | errors.DeadlockDetected
        return isinstance(exc, busy)

    def json_text(self, column: str, key_param: str) -> str:
        return f"({column}::json ->> {key_param})"

    def json_number(self, column: str, key_params: tuple[str, str]) -> str:
        return f"(({column}::json -> {key_params[0]}) ->> {key_params[1]})::double precision"

    def json_path_args(self, *keys: str) -> tuple[Any, ...]:
        return keys

    def splits_sql(self) -> str:
        return ("SELECT j.key FROM simulations s CROSS JOIN LATERAL json_each(s.metrics_json::json)"
                " WITH ORDINALITY AS j(key, value, ord) GROUP BY j.key ORDER BY MIN(s.id), MIN(j.ord)")

    def bad_json_row(self, con: Any, column: str) -> Any:
        import json

        for row in con.execute(f"SELECT id, alpha_id, {column} FROM simulations ORDER BY id"):
            try:
                json.loads(row[2])
            except (ValueError, TypeError):
                return row
        return None

    def integrity_check(self, con: Any, tables_by_version: dict[int, tuple[str, ...]]) -> str:
        version, tables = self.inspect(con)
        problems = [f"table {t} is missing" for t in tables_by_version.get(version, ()) if t not in tables]
        if not problems:
            for row in con.execute(
                "SELECT s.id, s.alpha_id FROM simulations s LEFT JOIN pnl_series p ON p.simulation_id = s.id"
                " WHERE p.simulation_id IS NULL ORDER BY s.id LIMIT 20"
            ):
                problems.append(f"simulation {row[0]} of alpha {row[1]!r} has no PnL series")
        return "\n".join(problems) or "ok"


def open_backend(path_or_url: str | os.PathLike[str]) -> Backend:
    """The backend for a file path, ``sqlite:///PATH``, ``:memory:`` or ``postgresql://...``.

    Raises:
        StoreError: an empty path, another URL scheme, or a PostgreSQL URL without psycopg installed.
    """
    text = os.fspath(path_or_url)
    if is_store_url(text):
        return PostgresBackend(text)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise StoreError(
            f"unsupported store URL {_redact(text)!r}: only sqlite:///PATH, a file path or postgresql://..."
        )
    if not text:
        raise StoreError("empty store path")
    return SqliteBackend(text)
