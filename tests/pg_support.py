"""A throwaway PostgreSQL server for the store tests, and the ``store_url`` fixture over both backends.

The session fixture :func:`pg_server` runs ``initdb`` + ``pg_ctl start`` (the OS packages' binaries, found
on ``PATH`` or under ``/usr/lib/postgresql/*/bin``) in a temporary folder on a free port, as the
``postgres`` user when the tests run as root; it skips the PostgreSQL cases cleanly where the binaries or
psycopg are absent. Each test gets a fresh database (:meth:`PgServer.new_database`).

Import the fixtures into a test module: ``from tests.pg_support import pg_server, store_url  # noqa: F401``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PgServer", "find_pg_bin", "pg_server", "store_url", "raw_execute", "write_lock_is_held", "is_pg",
           "require_psycopg"]


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest version under /usr/lib/postgresql), or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2] or 0))
    for folder in reversed(candidates):
        if os.access(f"{folder}/initdb", os.X_OK) and os.access(f"{folder}/pg_ctl", os.X_OK):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster in a temporary folder, on 127.0.0.1:``port``, trust authentication.

    Args:
        durable: keep PostgreSQL's defaults (fsync and synchronous commit on, as a production server);
            ``False`` (the tests) turns both off, which changes nothing a killed process can observe.
    """

    def __init__(self, bin_dir: Path, *, durable: bool = False):
        self.bin_dir = bin_dir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="alpha_env_pg_"))
        self._user: str | None = None
        if os.geteuid() == 0:  # initdb refuses to run as root
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise RuntimeError("running as root and there is no postgres user") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._user = "postgres"
        self.data = self.root / "data"
        self._counter = itertools.count()
        self._as_user([str(bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                       "-E", "UTF8", "--locale=C", "--no-sync"])
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=60"
        if not durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._as_user([str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                       "-o", opts, "-w", "-t", "60", "start"])

    def _as_user(self, cmd: list[str]) -> None:
        if self._user is not None:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip() or out.stdout.strip()}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._as_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def require_psycopg() -> None:
    """Skip the calling test where psycopg cannot be imported."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"psycopg not installed (pip install 'alpha-env[postgres]'): {exc}")


@pytest.fixture(scope="session")
def pg_server():
    """A running :class:`PgServer` for the session (skips where PostgreSQL or psycopg is absent)."""
    require_psycopg()
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    try:
        server = PgServer(bin_dir)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot start a PostgreSQL server: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    """A store location for each backend: a new SQLite file path, or a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return request.getfixturevalue("pg_server").new_database()


def is_pg(url: str) -> bool:
    return url.startswith("postgresql://")


def raw_execute(url: str, sql: str, args: tuple[Any, ...] = (), *, fetch: bool = False) -> Any:
    """Run one statement behind the store's back (``?`` placeholders); the rows when ``fetch``."""
    if is_pg(url):
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            cur = con.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if fetch else None
    import sqlite3

    con = sqlite3.connect(url)
    try:
        cur = con.execute(sql, args)
        rows = cur.fetchall() if fetch else None
        con.commit()
        return rows
    finally:
        con.close()


def write_lock_is_held(url: str) -> bool:
    """Another connection holds the store's write lock right now."""
    if is_pg(url):
        import psycopg

        from alpha_env.ace.store_backends import _PG_LOCK_KEY

        with psycopg.connect(url, autocommit=True) as con:
            got = con.execute("SELECT pg_try_advisory_xact_lock(%s)", (_PG_LOCK_KEY,)).fetchone()[0]
            return not got
    import sqlite3

    probe = sqlite3.connect(url, timeout=0.1, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return True
    finally:
        probe.close()
