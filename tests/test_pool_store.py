"""Issue 15 in the store and the ACE: dedup of repeated saves and of equal signals, schema 2 migration,
pools simulated like any alpha (stable id, key) and stored with their members and weights."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from alpha_env.ace import ACE, AlphaStore
from alpha_env.ace.ids import alpha_id
from alpha_env.ace.pools import build_pool, gross_sharpe, pool_key, simulate_pool
from alpha_env.ace.store import MIGRATIONS, SCHEMA_VERSION, TABLES_BY_VERSION
from alpha_env.data import synthetic_market
from alpha_env.errors import SettingsError, StoreError
from alpha_env.pool import AlphaPool, PoolSettings, signal_fingerprint
from tests import pg_support
from tests.pg_support import raw_execute
from tests.test_ace_store import fake_result

pg_server, store_url = pg_support.pg_server, pg_support.store_url  # fixtures: SQLite and PostgreSQL

EXPRS = ("rank(-delta(close, 5))", "ts_rank(volume, 10)", "-rank(close)")


@pytest.fixture(scope="module")
def ace():
    return ACE(synthetic_market(seed=0, n_stocks=40, n_days=300), rank_ic=True)


# -- dedup ------------------------------------------------------------------------------------------------
def test_resaving_the_same_alpha_adds_no_row(store_url):
    with AlphaStore(store_url) as store:
        first = store.save(fake_result("a1"))
        for _ in range(3):
            assert store.save(fake_result("a1")) == first
        assert store.counts() == {"alphas": 1, "simulations": 1, "pnl_series": 1, "submissions": 0}
        newer = fake_result("a1", sharpe=3.0)
        newer.metadata["code_version"] = "next"
        assert store.save(newer) != first  # another code version is a new simulation
        assert store.counts()["simulations"] == 2


def test_a_duplicate_signal_never_adds_a_store_row(store_url):
    with AlphaStore(store_url) as store:
        sim = store.save(fake_result("orig", expression="rank(close)"), fingerprint="fp1")
        before = store.counts()
        dup = fake_result("copy", expression="close", sharpe=9.0)
        assert store.duplicate_of("fp1", dup.dataset_id, dup.settings) == "orig"
        assert store.save(dup, fingerprint="fp1") == sim
        assert dup.metadata["duplicate_of"] == "orig"
        assert store.counts() == before and "copy" not in store
        assert [r["alpha_id"] for r in store.top("sharpe", "train", 10)] == ["orig"]  # one line per alpha
        # the same fingerprint on another dataset or with other settings is another alpha
        other = fake_result("other_ds", expression="close")
        other.metadata["dataset_id"] = "ds2"
        assert store.duplicate_of("fp1", "ds2", other.settings) is None
        store.save(other, fingerprint="fp1")
        assert "other_ds" in store
        assert store.duplicate_of("nope", "ds", {"delay": 1}) is None


def test_fingerprint_dedup_with_real_signals(ace, tmp_path):
    """``rank(close)`` and ``close`` order stocks identically: the second is the first alpha."""
    train = ace.panel.splits["train"]
    with AlphaStore(tmp_path / "r.db") as store:
        ids = []
        for text in ("rank(close)", "close", "2 * close + 1"):
            score = ace.score(text, None)
            fp = signal_fingerprint(score.signal, train)
            store.save(ace.complete(score), fingerprint=fp)
            ids.append(score.alpha_id)
        assert len(set(ids)) == 3
        assert store.counts()["alphas"] == 1 and store.counts()["simulations"] == 1


def test_schema_1_store_migrates_forward_and_keeps_working(tmp_path):
    path = tmp_path / "v1.db"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0][1])
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    assert SCHEMA_VERSION == 2 and TABLES_BY_VERSION[2][-2:] == ("pools", "pool_members")
    # a v1 store with data: write rows with the v1 code path shape, then open with this version
    with AlphaStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.save(fake_result("x"))
        assert store.get("x").alpha_id == "x" and store.pools() == []
    con = sqlite3.connect(path)
    cols = [r[1] for r in con.execute("PRAGMA table_info(alphas)")]
    con.close()
    assert "fingerprint" in cols


def test_v1_file_with_rows_migrates(tmp_path):
    path = tmp_path / "v1rows.db"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0][1])
    con.execute("INSERT INTO alphas VALUES ('old', 'close', '{}', 'ds', '2020-01-01')")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    with AlphaStore(path, create=False) as store:
        assert "old" in store and store.schema_version == 2
        assert store.duplicate_of("fp", "ds", {}) is None


# -- pools ------------------------------------------------------------------------------------------------
def test_pool_simulation_has_a_stable_id_and_key(ace):
    pool, log = build_pool(ace, EXPRS, PoolSettings())
    assert [r for _, r in log] == [None] * 3 and len(pool) == 3
    r1 = simulate_pool(ace, pool)
    key = pool_key(pool)
    assert r1.expression == key and key.startswith("pool[lstsq,h=1](")
    # members sorted by canonical text, weights to 10 significant digits
    terms = key[len("pool[lstsq,h=1]("):-1].split("; ")
    assert [t.split("*", 1)[1] for t in terms] == sorted(["-rank(close)", "rank(-delta(close, 5))",
                                                          "ts_rank(volume, 10)"])
    assert r1.alpha_id == alpha_id(key, ace.settings.to_dict(), ace.panel.dataset_id)
    # the same members offered in another order: same key and id
    pool2, _ = build_pool(ace, EXPRS[::-1], PoolSettings())
    r2 = simulate_pool(ace, pool2)
    assert r2.alpha_id == r1.alpha_id and r2.expression == key
    np.testing.assert_allclose(r2.pnl, r1.pnl, rtol=0, atol=1e-12)
    # another model or horizon: another id
    pool3, _ = build_pool(ace, EXPRS, PoolSettings(model="ridge", ridge_alpha=0.5))
    assert simulate_pool(ace, pool3).alpha_id != r1.alpha_id
    assert pool_key(pool3).startswith("pool[ridge,h=1,alpha=0.5](")
    # like any alpha: metrics per split, yearly, checks, PnL; metadata records the pool
    assert set(r1.metrics) == {"train", "valid", "test", "all"} and r1.yearly and r1.checks
    info = r1.metadata["pool"]
    assert info["in_sample"] == ["train"] and info["model"] == "lstsq"
    assert [m["expression"] for m in info["members"]] == [t.split("*", 1)[1] for t in terms]
    by_expr = {m.expr: m.weight for m in pool.members}
    for m in info["members"]:
        assert m["weight"] == by_expr[m["expression"]]
    assert info["sharpe_gross"]["valid"] == pytest.approx(r1.metrics["valid"]["sharpe"])  # 0 bps


def test_pool_signal_is_the_combined_signal(ace):
    pool, _ = build_pool(ace, EXPRS[:2], PoolSettings())
    direct = ace.complete(ace.score_signal(pool.combined(), "x", None))
    r = simulate_pool(ace, pool)
    np.testing.assert_array_equal(r.pnl, direct.pnl)


def test_gross_sharpe_before_costs():
    panel = synthetic_market(seed=1, n_stocks=30, n_days=200)
    cheap, dear = ACE(panel), ACE(panel, {"cost_bps": 20.0})
    pool, _ = build_pool(cheap, EXPRS[:2], PoolSettings())
    r0, r20 = simulate_pool(cheap, pool), simulate_pool(dear, pool)
    assert r20.alpha_id != r0.alpha_id
    for split in ("train", "valid", "all"):
        assert r20.metadata["pool"]["sharpe_gross"][split] == pytest.approx(r0.metrics[split]["sharpe"])
        assert r20.metrics[split]["sharpe"] < r0.metrics[split]["sharpe"]
    assert gross_sharpe(r0.backtest, slice(0, 0)) == 0.0


def test_pool_errors(ace):
    empty = AlphaPool.from_panel(ace.panel, PoolSettings(), delay=1)
    with pytest.raises(SettingsError, match="empty pool"):
        simulate_pool(ace, empty)
    d0 = AlphaPool.from_panel(ace.panel, PoolSettings(), delay=0)
    d0.add("close", ace.evaluator.evaluate("close"))
    with pytest.raises(SettingsError, match="delay 0 differs"):
        simulate_pool(ace, d0)


def test_save_pool_stores_members_and_weights(ace, store_url):
    pool, _ = build_pool(ace, EXPRS, PoolSettings())
    r = simulate_pool(ace, pool)
    with AlphaStore(store_url) as store:
        sim = store.save_pool(r)
        assert store.save_pool(simulate_pool(ace, pool)) == sim  # again: no new rows
        assert store.counts() == {"alphas": 1, "simulations": 1, "pnl_series": 1, "submissions": 0}
        got = store.get_pool(r.alpha_id)
        assert got["key"] == r.expression and got["model"] == "lstsq" and got["in_sample"] == ["train"]
        assert got["members"] == [{"expression": m["expression"], "weight": m["weight"], "ic": m["ic"]}
                                  for m in r.metadata["pool"]["members"]]
        assert got["dataset_id"] == ace.panel.dataset_id and got["settings"] == r.settings
        assert got["pool_settings"]["capacity"] == 20
        np.testing.assert_array_equal(got["result"].pnl, r.pnl)
        assert store.pools() == [{"pool_id": r.alpha_id, "model": "lstsq", "dataset_id": ace.panel.dataset_id,
                                  "size": 3, "created_at": got["created_at"]}]
        assert store.is_pool(r.alpha_id)
        rows = store.top("sharpe", "valid", 10)
        assert rows[0]["is_pool"] and rows[0]["checks"][1] == len(r.checks)
        assert store.top("sharpe", "valid", 10, pools=False) == []
        store.save(fake_result("single"))
        with pytest.raises(StoreError, match="an alpha, not a pool 'single'"):
            store.get_pool("single")
        with pytest.raises(StoreError, match="unknown pool id 'zz'"):
            store.get_pool("zz")
        with pytest.raises(StoreError, match="no pool description"):
            store.save_pool(fake_result("bare"))


def test_nan_weight_is_stored_as_null_not_zero(store_url):
    r = fake_result("p1", expression="pool[x](...)")
    info = {"model": "rolling", "pool_settings": {}, "in_sample": ["train"],
            "members": [{"expression": "close", "weight": float("nan"), "ic": 0.1}]}
    with AlphaStore(store_url) as store:
        store.save_pool(r, info)
        m = store.get_pool("p1")["members"][0]
        assert np.isnan(m["weight"]) and m["ic"] == 0.1
    raw = raw_execute(store_url, "SELECT weight FROM pool_members", fetch=True)[0][0]
    assert raw is None


def test_top_filters_by_dataset(store_url):
    with AlphaStore(store_url) as store:
        store.save(fake_result("a"))
        b = fake_result("b")
        b.metadata["dataset_id"] = "other"
        store.save(b)
        assert [r["alpha_id"] for r in store.top("sharpe", "train", None, dataset_id="other")] == ["b"]
        assert len(store.top("sharpe", "train", None)) == 2
