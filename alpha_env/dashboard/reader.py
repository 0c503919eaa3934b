"""Read-only connections to an alpha store for the dashboard: a SQLite file or a PostgreSQL database.

The dashboard's queries are written in SQLite's dialect (``?`` placeholders); a :class:`ReadConnection`
translates them through the store's backend (:mod:`alpha_env.ace.store_backends`) and adds the few
things the store's backend does not carry: JSON paths with literal keys, table columns and insertion
order. Nothing here can write:

* SQLite: the file is opened with ``mode=ro`` (not even the WAL switch);
* PostgreSQL: the connection URL carries ``options=-c default_transaction_read_only=on``, so the server
  refuses any write of that session (also for :meth:`StoreSource.open_store`, the store's own decoder).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from alpha_env.ace.store import SCHEMA_VERSION, TABLES
from alpha_env.ace.store_backends import Backend, is_store_url, open_backend
from alpha_env.errors import StoreError

__all__ = ["StoreSource", "ReadConnection", "read_only_url"]

#: The libpq session option that makes every transaction of a connection read-only.
_PG_READ_ONLY = "-c default_transaction_read_only=on"


def read_only_url(url: str) -> str:
    """``url`` (``postgresql://...``) with the read-only session option added to its ``options``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = [v for k, v in query if k == "options"]
    rest = [(k, v) for k, v in query if k != "options"]
    merged = " ".join([*options, _PG_READ_ONLY])
    return urlunsplit(parts._replace(query=urlencode([*rest, ("options", merged)], quote_via=quote)))


class StoreSource:
    """Where one store lives (a file path or a ``postgresql://`` URL), opened read-only on demand.

    ``label`` is what pages and messages show (a path, or the URL without its password); ``location``
    is the path or URL as given (what the reproduce commands print).

    Raises:
        StoreError: an empty path, an unsupported URL scheme, or PostgreSQL without psycopg.
    """

    def __init__(self, location: str | Path):
        text = str(location)
        self.is_postgres = is_store_url(text)
        self._url = read_only_url(text) if self.is_postgres else text
        self.backend: Backend = open_backend(self._url)
        self.label: str = open_backend(text).label if self.is_postgres else self.backend.label
        self.location: str = self.label

    @property
    def path(self) -> Path | None:
        """The store file (SQLite), or ``None`` for a database server."""
        return None if self.is_postgres else Path(self.backend.label)

    def connect(self) -> ReadConnection:
        """A read-only connection, checked to be a readable store of this alpha-env's schema.

        Raises:
            StoreError: nothing there, not a database, a foreign database, a newer schema, or missing
                tables (the message names the store).
        """
        if self.is_postgres:
            con = self.backend.connect(create=False, busy_timeout_s=30.0)
        else:
            con = _sqlite_readonly(self.label)
        reader = ReadConnection(con, self)
        try:
            version, tables = reader.inspect()
        except StoreError:
            reader.close()
            raise
        if version > SCHEMA_VERSION:
            reader.close()
            raise StoreError(f"store {self.label} has schema version {version}, newer than this alpha-env "
                             f"({SCHEMA_VERSION}); upgrade alpha-env")
        missing = [t for t in TABLES if t not in tables]
        if version == 0 or missing:
            reader.close()
            what = "schema version 0" if version == 0 else f"no table {', '.join(missing)}"
            raise StoreError(f"{self.label} is not a readable alpha-env store ({what})")
        return reader

    def open_store(self) -> Any:
        """The store's own :class:`~alpha_env.ace.store.AlphaStore` (``create=False``; read-only
        session on PostgreSQL), for its decoders (``get``, ``submissions``). Close it after use."""
        from alpha_env.ace import AlphaStore

        return AlphaStore(self._url if self.is_postgres else self.label, create=False)


def _sqlite_readonly(path: str) -> sqlite3.Connection:
    """``path`` opened with SQLite's ``mode=ro`` (never created, never written)."""
    if not Path(path).is_file():
        raise StoreError(f"no alpha store at {path}")
    try:
        con = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True, timeout=30.0,
                              check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path} read-only: {exc}") from exc
    con.row_factory = sqlite3.Row
    return con


class ReadConnection:
    """One read-only connection: SQLite-dialect statements run through the store's backend.

    Attributes:
        errors: the driver's error classes (a failed read is turned into a :class:`StoreError`).
        label: the store as messages name it.
    """

    def __init__(self, con: Any, source: StoreSource):
        self._con = con
        self._source = source
        self._b = source.backend
        self.label = source.label
        self.errors: tuple[type[BaseException], ...] = tuple(self._b.errors)
        self.is_postgres = source.is_postgres

    def execute(self, sql: str, args: Any = ()) -> Any:
        """Run ``sql`` (SQLite dialect, ``?`` placeholders); the cursor."""
        return self._con.execute(self._b.sql(sql), tuple(args))

    def inspect(self) -> tuple[int, list[str]]:
        """``(schema version, user tables)``; a :class:`StoreError` naming the store if unreadable."""
        try:
            return self._b.inspect(self._con)
        except (*self.errors, ValueError) as exc:
            raise StoreError(f"cannot open store {self.label} read-only: {exc}") from exc

    def table_names(self) -> list[str]:
        """Names of the user tables, sorted."""
        return sorted(self.inspect()[1])

    def columns(self, table: str) -> list[str]:
        """Column names of ``table`` in their order."""
        if self.is_postgres:
            rows = self._con.execute(
                "SELECT column_name::text FROM information_schema.columns WHERE table_schema ="
                " current_schema() AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
            return [str(r[0]) for r in rows]
        return [str(r[1]) for r in self._con.execute(f'PRAGMA table_info("{table}")').fetchall()]

    @property
    def insertion_order(self) -> str:
        """The SQL expression that orders a table's rows as stored (``rowid``; ``ctid`` on PostgreSQL,
        the physical order, which is the insertion order of the store's append-only tables)."""
        return "ctid" if self.is_postgres else "rowid"

    def json_value(self, column: str, *keys: str) -> str:
        """SQL for the JSON value ``column[k1][k2]...`` as JSON (SQL NULL when missing); keys must be
        identifiers (they are written into the statement)."""
        _check_keys(keys)
        if self.is_postgres:
            return f"({column}::json" + "".join(f" -> '{k}'" for k in keys) + ")"
        return f"json_extract({column}, '$." + ".".join(f'"{k}"' for k in keys) + "')"

    def json_text(self, column: str, key: str) -> str:
        """SQL for the text (or number as text) ``column[key]``; NULL when missing."""
        _check_keys((key,))
        if self.is_postgres:
            return f"({column}::json ->> '{key}')"
        return f"json_extract({column}, '$.\"{key}\"')"

    def json_array(self, column: str, paths: list[tuple[str, str]]) -> str:
        """SQL for one JSON array text holding ``column[a][b]`` for each ``(a, b)`` of ``paths``
        (``null`` where missing), parsed by the caller in one ``json.loads``."""
        for path in paths:
            _check_keys(path)
        if not paths:
            return "'[]'"
        if not self.is_postgres:
            return f"json_extract({column}, " + ", ".join(f"'$.\"{a}\".{b}'" for a, b in paths) + ")"
        # json_build_array takes at most 100 arguments: build chunks and join them as jsonb
        chunks = [paths[i:i + 90] for i in range(0, len(paths), 90)]
        parts = ["json_build_array(" + ", ".join(f"{column}::json -> '{a}' -> '{b}'" for a, b in chunk)
                 + ")::jsonb" for chunk in chunks]
        return "(" + " || ".join(parts) + ")::text"

    def json_keys_from(self, column: str) -> str:
        """A ``FROM`` item listing the top-level keys of ``column`` as ``j.key``."""
        return f"json_each({column}::json) j" if self.is_postgres else f"json_each({column}) j"

    def bad_json_row(self, column: str) -> Any:
        """``(id, alpha_id)`` of the first simulation whose ``column`` is not JSON, or ``None``."""
        return self._b.bad_json_row(self._con, column)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ReadConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_keys(keys: tuple[str, ...]) -> None:
    for key in keys:
        if not str(key).isidentifier():
            raise StoreError(f"bad JSON key {key!r}")

