"""AlphaStore: round trips, ranking, submissions, schema versions, concurrent writers, crashes.

The cases that apply to both backends run on SQLite and on a throwaway PostgreSQL server
(``store_url``, tests/pg_support.py; the PostgreSQL cases skip where the server cannot be started)."""

from __future__ import annotations

import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from alpha_env.ace import AlphaStore, CheckResult, default_db_path
from alpha_env.ace.store import SCHEMA_VERSION
from alpha_env.errors import StoreError
from tests import pg_support
from tests.pg_support import is_pg, raw_execute, write_lock_is_held

pg_server, store_url = pg_support.pg_server, pg_support.store_url  # fixtures (tests/pg_support.py)

ROOT = Path(__file__).resolve().parents[1]

# Builds a lightweight SimulationResult without any market data (used here and in the worker scripts).
FAKE = textwrap.dedent(
    """
    import numpy as np
    from alpha_env.ace import CheckResult, SimulationResult

    def fake_result(alpha_id, sharpe=1.0, n=300, seed=0, expression=None):
        rng = np.random.default_rng(seed)
        pnl = rng.normal(0.0005, 0.01, n)
        metrics = {s: {"sharpe": sharpe + k, "turnover": 0.2, "fitness": 1.0, "max_weight": 0.05}
                   for k, s in enumerate(["train", "valid", "test", "all"])}
        return SimulationResult(
            alpha_id=alpha_id,
            expression=expression or f"rank(close) * {alpha_id}",
            metrics=metrics,
            yearly={"2010": metrics["all"]},
            pnl=pnl,
            turnover=np.full(n, 0.2),
            dates=np.arange("2010-01-01", n, dtype="datetime64[D]")[:n],
            checks=[CheckResult("sharpe", sharpe, 1.25, sharpe >= 1.25, "x")],
            metadata={"settings": {"delay": 1}, "dataset_id": "ds", "code_version": "test",
                      "run_time_s": 0.01, "splits": {"train": [0, 180], "valid": [180, 240],
                                                     "test": [240, n]}},
        )
    """
)
namespace: dict = {}
exec(FAKE, namespace)
fake_result = namespace["fake_result"]


def _run_worker(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", FAKE + textwrap.dedent(code)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    """One line of the worker's stdout, or fail after ``timeout`` seconds (never hang the suite)."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            pytest.fail(f"worker printed nothing within {timeout} s")
    return proc.stdout.readline()


def test_save_get_round_trip(store_url):
    with AlphaStore(store_url) as store:
        r = fake_result("a1", sharpe=2.0, seed=3)
        sim = store.save(r)
        got = store.get("a1")
        assert got.metadata["simulation_id"] == sim
        np.testing.assert_array_equal(got.pnl, r.pnl)
        np.testing.assert_array_equal(got.dates, r.dates)
        assert got.metrics == r.metrics and got.expression == r.expression
        assert got.checks == r.checks
        assert got.backtest is None
        assert "a1" in store and "zz" not in store
        with pytest.raises(StoreError, match="unknown alpha id 'zz'"):
            store.get("zz")
        # the same alpha saved again by the same code version: no new row (issue 15 dedup)
        assert store.save(fake_result("a1", sharpe=2.0, seed=3)) == sim
        assert store.counts()["simulations"] == 1
        # a second simulation of the same alpha by another code version: get returns the latest
        again = fake_result("a1", sharpe=5.0)
        again.metadata["code_version"] = "test-2"
        store.save(again)
        assert store.get("a1").metrics["train"]["sharpe"] == 5.0
        assert store.counts() == {"alphas": 1, "simulations": 2, "pnl_series": 2, "submissions": 0}


def test_undefined_metrics_are_stored_as_null_and_read_back_as_nan(store_url):
    """An alpha fine on train but with no finite PnL on valid must be stored, not crash the writer."""
    import math

    r = fake_result("n1", sharpe=2.0)
    r.metrics["valid"]["sharpe"] = float("nan")
    r.metrics["test"]["fitness"] = float("inf")
    with AlphaStore(store_url) as store:
        store.save(r)
        got = store.get("n1")
        assert math.isnan(got.metrics["valid"]["sharpe"]) and math.isnan(got.metrics["test"]["fitness"])
        assert got.metrics["train"] == r.metrics["train"]
    raw = raw_execute(store_url, "SELECT metrics_json FROM simulations", fetch=True)[0][0]
    assert "NaN" not in raw and "Infinity" not in raw and "null" in raw


def test_top_orders_by_split_metric(store_url):
    with AlphaStore(store_url if is_pg(store_url) else f"sqlite:///{store_url}") as store:
        for i, s in enumerate([0.5, 3.0, 1.5, -1.0]):
            store.save(fake_result(f"id{i}", sharpe=s))
        top = store.top("sharpe", "valid", 3)
        assert [t["alpha_id"] for t in top] == ["id1", "id2", "id0"]
        assert top[0]["value"] == pytest.approx(4.0)  # valid = sharpe + 1 in fake_result
        assert [t["alpha_id"] for t in store.top("sharpe", "train", 2, ascending=True)] == ["id3", "id0"]
        with pytest.raises(StoreError, match="unknown metric"):
            store.top("bogus")


def test_submissions_and_submitted_pnl(store_url):
    with AlphaStore(store_url) as store:
        store.save(fake_result("good"))
        store.save(fake_result("bad"))
        ok = [CheckResult("sharpe", 2.0, 1.25, True, "")]
        ko = [CheckResult("sharpe", 0.2, 1.25, False, "")]
        store.submit("good", ok)
        store.submit("bad", ko)
        assert set(store.submitted()) == {"good"}  # a failed submission does not count
        assert store.submitted(exclude="good") == {}
        subs = store.submissions()
        assert [s["alpha_id"] for s in subs] == ["bad", "good"] and subs[1]["passed"]
        with pytest.raises(StoreError, match="unknown alpha id"):
            store.submit("nope", ok)


def test_schema_version_and_newer_file_refused(tmp_path):
    path = tmp_path / "d.db"
    with AlphaStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="newer than this alpha-env"):
        AlphaStore(path)


def test_bad_locations(tmp_path, monkeypatch):
    with pytest.raises(StoreError, match="only sqlite"):
        AlphaStore("mysql://host/db")
    with pytest.raises(StoreError, match="does not exist"):
        AlphaStore(tmp_path / "missing" / "x.db")
    monkeypatch.setenv("ALPHA_ENV_DB", str(tmp_path / "env.db"))
    assert default_db_path() == tmp_path / "env.db"
    monkeypatch.delenv("ALPHA_ENV_DB")
    assert default_db_path() == Path("alpha_env.db")
    # a server URL stays a URL (a Path would fold its "//")
    monkeypatch.setenv("ALPHA_ENV_DB", "postgresql://u@db.example:5432/alphas")
    assert default_db_path() == "postgresql://u@db.example:5432/alphas"


def test_postgres_url_errors_name_the_store_not_the_password(monkeypatch):
    pg_support.require_psycopg()
    # nothing listens on port 1: the open fails with a one-line StoreError, the password is not shown
    with pytest.raises(StoreError, match=r"cannot open store postgresql://u:\*\*\*@127\.0\.0\.1:1/db") as err:
        AlphaStore("postgresql://u:secret@127.0.0.1:1/db", busy_timeout_s=1)
    assert "secret" not in str(err.value) and "\n" not in str(err.value)


def test_postgres_url_without_the_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(StoreError, match=r"alpha-env\[postgres\]"):
        AlphaStore("postgresql://u@host/db")


def test_four_processes_write_800_records_concurrently(store_url):
    path = store_url
    code = f"""
        import os
        from alpha_env.ace import AlphaStore
        worker = int(os.environ["WORKER"])
        store = AlphaStore(r"{path}")
        for i in range(200):
            # even i: an alpha shared by every worker (INSERT OR IGNORE races); odd i: this worker's own
            aid = f"shared{{i:04d}}" if i % 2 == 0 else f"w{{worker}}-{{i:04d}}"
            store.save(fake_result(aid, sharpe=i / 100, n=250, seed=i))
        print("done", worker)
    """
    procs = []
    for w in range(4):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKER": str(w)}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", FAKE + textwrap.dedent(code)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            )
        )
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with AlphaStore(path) as store:
        # the 100 shared alphas are one simulation each however many workers saved them (issue 15 dedup)
        assert store.counts() == {"alphas": 100 + 4 * 100, "simulations": 500, "pnl_series": 500,
                                  "submissions": 0}
        assert store.integrity_check() == "ok"
        for row in store.top("sharpe", "train", 5):
            np.testing.assert_array_equal(store.get(row["alpha_id"]).turnover, 0.2)


def test_writer_killed_mid_transaction_leaves_no_partial_record(store_url):
    path = store_url
    with AlphaStore(path) as store:
        store.save(fake_result("before"))
    code = f"""
        import time
        from alpha_env.ace import AlphaStore

        class StallBeforePnl:
            # delegate to the real connection; stall forever once alpha + simulation rows are written
            def __init__(self, con):
                self._con = con
            def execute(self, sql, *args):
                if sql.startswith("INSERT INTO pnl_series"):
                    print("stalled", flush=True)
                    time.sleep(600)
                return self._con.execute(sql, *args)
            def __getattr__(self, name):
                return getattr(self._con, name)

        store = AlphaStore(r"{path}")
        store._con = StallBeforePnl(store._con)
        store.save(fake_result("victim", n=2000))
    """
    proc = _run_worker(code)
    try:
        line = _readline(proc, timeout=60)
        assert line.strip() == "stalled", line
        # the write lock is held: another connection cannot start a write transaction now
        assert write_lock_is_held(path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with AlphaStore(path, busy_timeout_s=5) as store:
        assert store.integrity_check() == "ok"
        assert "victim" not in store
        assert store.counts() == {"alphas": 1, "simulations": 1, "pnl_series": 1, "submissions": 0}
        store.save(fake_result("after"))  # the lock died with the process
        assert store.counts()["simulations"] == 2


# -- damaged and foreign files (issue 19, defect 7) --------------------------------------------------------
def _store_with(tmp_path: Path, n_alphas: int = 3, name: str = "s.db", url: str | None = None) -> Path | str:
    """A store with ``n_alphas`` alphas and a passed submission of ``a0`` (at ``url`` when given)."""
    path = url if url is not None and is_pg(url) else tmp_path / name
    with AlphaStore(path) as store:
        for i in range(n_alphas):
            store.save(fake_result(f"a{i}", sharpe=float(i), seed=i))
        store.submit("a0", [CheckResult("sharpe", 2.0, 1.25, True, "")])
    return path


def damaged_store(tmp_path: Path, kind: str, url: str | None = None) -> Path | str:
    """A store damaged one way (built with raw SQL / raw bytes); alpha ``a1`` is the damaged one.

    ``url``: a PostgreSQL database to damage instead of a SQLite file in ``tmp_path`` (not ``pages``).
    """
    if kind == "pages":  # header and schema page intact, every page behind them overwritten
        path = _store_with(tmp_path, n_alphas=40)
        size = path.stat().st_size
        page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
        assert not Path(f"{path}-wal").exists() and size > 4 * page
        with open(path, "r+b") as f:
            f.seek(2 * page)
            f.write(b"\xa5" * (size - 3 * page))
        return path
    path = _store_with(tmp_path, url=url)
    sim = raw_execute(str(path), "SELECT MAX(id) FROM simulations WHERE alpha_id = 'a1'", fetch=True)[0][0]
    if kind == "metrics_json":
        statement = ("UPDATE simulations SET metrics_json = '{\"train\": {' WHERE id = ?", (sim,))
    elif kind == "checks_json":
        statement = ("UPDATE simulations SET checks_json = 'not json' WHERE id = ?", (sim,))
    elif kind == "settings_json":
        statement = ("UPDATE alphas SET settings_json = '[1, 2' WHERE alpha_id = 'a1'", ())
    elif kind == "pnl_blob":
        statement = ("UPDATE pnl_series SET pnl = ? WHERE simulation_id = ?", (b"\x00\xff\x00\xff", sim))
    elif kind == "pnl_length":
        statement = ("UPDATE pnl_series SET pnl = ? WHERE simulation_id = ?",
                     (zlib.compress(np.zeros(7).tobytes()), sim))
    elif kind == "missing_tables":
        statement = ("DROP TABLE pnl_series", ())
    else:
        raise AssertionError(kind)
    raw_execute(str(path), *statement)
    return path


READS = {
    "counts": lambda s: s.counts(),
    "top": lambda s: s.top("sharpe", "valid", 50),
    "get": lambda s: s.get("a1"),
    "integrity_check": lambda s: s.integrity_check(),
    "submissions": lambda s: s.submissions(),
    "submitted": lambda s: s.submitted(),
}


def _read_all(path: Path) -> dict[str, str]:
    """Run every read; ``name -> "ok"`` or the StoreError message (any other exception fails the test)."""
    out = {}
    for name, read in READS.items():
        try:
            with AlphaStore(path, create=False) as store:
                read(store)
            out[name] = "ok"
        except StoreError as exc:
            out[name] = str(exc)
    return out


def test_damaged_pages_behind_an_intact_header_raise_store_error(tmp_path):
    path = damaged_store(tmp_path, "pages")
    got = _read_all(path)
    for name in ("counts", "top", "get", "integrity_check"):
        assert str(path) in got[name] and "malformed" in got[name], (name, got[name])


@pytest.mark.parametrize(
    ("kind", "failing"),
    [
        ("metrics_json", {"top", "get"}),
        ("checks_json", {"get"}),
        ("settings_json", {"top"}),
        ("pnl_blob", {"get"}),
        ("pnl_length", {"get"}),
    ],
)
def test_bad_rows_raise_store_error_naming_store_and_alpha(tmp_path, kind, failing, store_url):
    path = damaged_store(tmp_path, kind, url=store_url)
    got = _read_all(path)
    assert {name for name, msg in got.items() if msg != "ok"} == failing, got
    for name in failing:
        assert str(path) in got[name] and "'a1'" in got[name], (name, got[name])
    assert got["counts"] == "ok"


def test_bad_blob_of_a_submitted_alpha_names_it(tmp_path, store_url):
    path = _store_with(tmp_path, url=store_url)
    raw_execute(str(path), "UPDATE pnl_series SET dates = 'text' WHERE simulation_id ="
                " (SELECT MAX(id) FROM simulations WHERE alpha_id = 'a0')")
    with AlphaStore(path) as store, pytest.raises(StoreError, match=r"submitted alpha 'a0'.*dates"):
        store.submitted()


def test_schema_1_file_missing_tables_is_refused(tmp_path):
    path = damaged_store(tmp_path, "missing_tables")
    for create in (True, False):
        with pytest.raises(StoreError, match=rf"damaged: schema version {SCHEMA_VERSION} without table "
                                             r"pnl_series"):
            AlphaStore(path, create=create)
    bare = tmp_path / "bare.db"
    con = sqlite3.connect(bare)
    con.execute("PRAGMA user_version = 1")
    con.close()
    with pytest.raises(StoreError, match=str(bare)):
        AlphaStore(bare)


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "foreign.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO users(name) VALUES ('x')")
    con.commit()
    con.close()
    before = path.read_bytes()
    for create in (True, False):
        with pytest.raises(StoreError, match=r"not an alpha-env store \(schema version 0, tables users\)"):
            AlphaStore(path, create=create)
    assert path.read_bytes() == before  # no alpha tables, not even switched to WAL
    con = sqlite3.connect(path)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["users"]
    con.close()


def test_read_only_open_never_creates_a_store(tmp_path):
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match=f"no alpha store at {missing}"):
        AlphaStore(missing, create=False)
    assert not missing.exists() and list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreError, match="not an alpha-env store"):
        AlphaStore(empty, create=False)
    assert empty.stat().st_size == 0
    with AlphaStore(_store_with(tmp_path), create=False) as store:  # a sound store opens for reading
        assert store.counts()["alphas"] == 3


def test_top_rejects_a_split_no_simulation_has(tmp_path):
    with AlphaStore(_store_with(tmp_path)) as store:
        assert store.splits() == ["train", "valid", "test", "all"]
        with pytest.raises(StoreError, match=r"unknown split 'foo' .*one of train, valid, test, all"):
            store.top("sharpe", "foo")
        row = store.top("sharpe", "valid", 1)[0]
        assert row["dataset_id"] == "ds" and row["settings"] == {"delay": 1}


def test_failed_save_rolls_back_and_releases_the_write_lock(store_url, monkeypatch):
    """An error inside a save's transaction (after ``BEGIN IMMEDIATE`` and two inserts) leaves no
    partial record, the connection out of its transaction, the next save working, and the file writable
    by another process at once."""
    path = store_url
    store = AlphaStore(path, busy_timeout_s=2)
    store.save(fake_result("before"))

    class FailBeforePnl:
        def __init__(self, con):
            self._con = con

        def execute(self, sql, *args):
            if sql.startswith("INSERT INTO pnl_series"):
                raise RuntimeError("injected failure inside the transaction")
            return self._con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self._con, name)

    real = store._con
    monkeypatch.setattr(store, "_con", FailBeforePnl(real))
    with pytest.raises(RuntimeError, match="injected"):
        store.save(fake_result("victim"))
    monkeypatch.setattr(store, "_con", real)
    store.save(fake_result("after"))  # no "cannot start a transaction within a transaction"
    assert not store._b.in_transaction(real)
    assert "victim" not in store
    assert store.counts() == {"alphas": 2, "simulations": 2, "pnl_series": 2, "submissions": 0}
    # another process writes while this connection stays open (the lock was released)
    code = f"""
        from alpha_env.ace import AlphaStore
        with AlphaStore(r"{path}", busy_timeout_s=2, retries=2) as other:
            other.save(fake_result("other"))
        print("written")
    """
    proc = _run_worker(code)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out.strip() == "written", err
    assert "other" in store and store.counts()["simulations"] == 3
    store.close()


def test_postgres_schema_guards(pg_server):
    """A PostgreSQL store is refused like a SQLite file: newer schema, foreign tables, a missing table;
    ``create=False`` never creates tables in an empty database."""
    empty = pg_server.new_database()
    with pytest.raises(StoreError, match=r"not an alpha-env store \(an empty database\)"):
        AlphaStore(empty, create=False)
    assert raw_execute(empty, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
                       fetch=True)[0][0] == 0
    with AlphaStore(empty) as store:
        assert store.schema_version == SCHEMA_VERSION and store.integrity_check() == "ok"
    raw_execute(empty, "UPDATE alpha_env_meta SET value = ? WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer than this alpha-env"):
        AlphaStore(empty)
    foreign = pg_server.new_database()
    raw_execute(foreign, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    for create in (True, False):
        with pytest.raises(StoreError, match=r"not an alpha-env store \(schema version 0, tables users\)"):
            AlphaStore(foreign, create=create)
    tables = raw_execute(foreign, "SELECT table_name FROM information_schema.tables"
                                  " WHERE table_schema = 'public'", fetch=True)
    assert [t[0] for t in tables] == ["users"]
    damaged = damaged_store(Path("."), "missing_tables", url=pg_server.new_database())
    with pytest.raises(StoreError, match=rf"damaged: schema version {SCHEMA_VERSION} without table pnl_"):
        AlphaStore(damaged)


def test_postgres_integrity_check_names_a_simulation_without_pnl(pg_server):
    url = _store_with(Path("."), url=pg_server.new_database())
    raw_execute(url, "DELETE FROM pnl_series WHERE simulation_id = (SELECT MAX(id) FROM simulations"
                     " WHERE alpha_id = 'a2')")
    with AlphaStore(url) as store:
        assert "of alpha 'a2' has no PnL series" in store.integrity_check()


def test_postgres_schema_1_store_migrates_forward(pg_server):
    """A schema-1 PostgreSQL store (MIGRATIONS[0] in its dialect) gains schema 2 when opened."""
    from alpha_env.ace.store import MIGRATIONS
    from alpha_env.ace.store_backends import PostgresBackend

    url = pg_server.new_database()
    backend = PostgresBackend(url)
    con = backend.connect(create=True, busy_timeout_s=5)
    with con.transaction():
        for statement in backend.migration(MIGRATIONS[0][1]):
            con.execute(statement)
        con.execute("INSERT INTO alphas VALUES ('old', 'close', '{}', 'ds', '2020-01-01')")
        backend.set_version(con, 1)
    con.close()
    with AlphaStore(url, create=False) as store:
        assert "old" in store and store.schema_version == SCHEMA_VERSION
        assert store.duplicate_of("fp", "ds", {}) is None and store.pools() == []
        store.save(fake_result("new"), fingerprint="fp")
        assert store.duplicate_of("fp", "ds", {"delay": 1}) == "new"


def test_cli_reads_a_postgres_store_from_db_and_env(pg_server, capsys, monkeypatch):
    """``--db postgresql://...`` and ``$ALPHA_ENV_DB`` reach the store as a URL, never as a file path."""
    import json

    from alpha_env.cli import main

    url = str(_store_with(Path("."), url=pg_server.new_database()))
    assert main(["top", "--db", url, "--json", "--n", "2"]) == 0
    assert [r["alpha_id"] for r in json.loads(capsys.readouterr().out)] == ["a2", "a1"]
    monkeypatch.setenv("ALPHA_ENV_DB", url)
    assert main(["report", "a1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["alpha_id"] == "a1"
    assert main(["report", "zz", "--json"]) == 2
    assert "unknown alpha id 'zz' in store postgresql://" in capsys.readouterr().err


def test_four_processes_saving_equal_signals_store_each_once(store_url):
    """Different alpha ids with one fingerprint, saved at once by 4 processes: one alpha per signal
    (PostgreSQL writers of different alphas run concurrently; a fingerprint group still has one writer)."""
    code = f"""
        import os
        from alpha_env.ace import AlphaStore
        worker = int(os.environ["WORKER"])
        with AlphaStore(r"{store_url}") as store:
            for i in range(30):
                store.save(fake_result(f"w{{worker}}-{{i:03d}}", seed=i), fingerprint=f"fp{{i}}")
        print("done", worker)
    """
    procs = [
        subprocess.Popen([sys.executable, "-c", FAKE + textwrap.dedent(code)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "WORKER": str(w)})
        for w in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with AlphaStore(store_url) as store:
        assert store.counts() == {"alphas": 30, "simulations": 30, "pnl_series": 30, "submissions": 0}
        for i in range(30):
            assert store.duplicate_of(f"fp{i}", "ds", {"delay": 1}) is not None


def test_postgres_dropped_connection_is_a_store_error(pg_server):
    """The server ending the session (restart, admin, network) is a one-line StoreError naming the store
    on the next write or read, never a raw psycopg error."""
    import re

    url = pg_server.new_database()
    with AlphaStore(url) as store:
        store.save(fake_result("a"))
        raw_execute(url, "SELECT pg_terminate_backend(?)", (store._con.info.backend_pid,))
        with pytest.raises(StoreError, match=f"store {re.escape(url)}"):
            store.save(fake_result("b"))
        with pytest.raises(StoreError, match=f"store {re.escape(url)}: cannot read the row counts"):
            store.counts()
    with AlphaStore(url) as store:
        assert store.counts()["simulations"] == 1 and "b" not in store
