"""Fuzz suite, stores (issue 19, Proof): a store with a few alphas, damaged (bytes past the header, bad
JSON rows, bad PnL blobs, dropped tables, a truncated or zeroed file, junk WAL, a foreign SQLite file),
is read by every ``AlphaStore`` read and by ``alpha-env top|report``: a StoreError or a result, never a
raw error, and a foreign file is refused; a write that fails inside its transaction leaves the store
readable and unchanged. Generators and rules: ``benchmarks/fuzz_reliability.py``."""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_support import assert_no_failure, load_fuzz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpha_env.ace import ACE
from alpha_env.data import synthetic_market

fuzz = load_fuzz()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """``(panel, path of an intact store with three alphas, their ids)``."""
    panel = synthetic_market(seed=3, n_stocks=12, n_days=80, news=False)
    path = tmp_path_factory.mktemp("store") / "pristine.db"
    return panel, path, fuzz.build_store(path, panel)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1))
def test_damaged_stores_read_as_store_errors(tmp_path, pristine, seed):
    _, source, ids = pristine
    path = tmp_path / f"damaged_{seed}.db"
    path.write_bytes(source.read_bytes())
    try:
        kind = fuzz.damage_store(np.random.default_rng(seed), path)
        assert_no_failure(fuzz.check_store(path, ids, kind))
    finally:
        for p in tmp_path.glob(f"damaged_{seed}.db*"):
            p.unlink()


@pytest.mark.parametrize("kind", fuzz._DAMAGE_KINDS)
def test_every_kind_of_damage(tmp_path, pristine, kind):
    _, source, ids = pristine
    for seed in range(500):
        if fuzz._DAMAGE_KINDS[int(np.random.default_rng(seed).integers(len(fuzz._DAMAGE_KINDS)))] == kind:
            path = tmp_path / "damaged.db"
            path.write_bytes(source.read_bytes())
            assert fuzz.damage_store(np.random.default_rng(seed), path) == kind
            assert_no_failure(fuzz.check_store(path, ids, kind))
            return
    pytest.fail(f"no seed below 500 makes {kind!r} damage")


def test_a_failed_write_leaves_the_store_readable_and_unchanged(tmp_path, pristine):
    panel, source, _ = pristine
    path = tmp_path / "intact.db"
    path.write_bytes(source.read_bytes())
    assert_no_failure(fuzz.check_failed_write(path, ACE(panel), "rank(close - vwap)"))


def _set_metrics(path, text: str) -> None:
    import sqlite3

    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE simulations SET metrics_json = ?", (text,))
    con.close()


@pytest.mark.parametrize("text", ['{"train": 5}', '{"valid": [1]}', '{"train": {"sharpe": "x"}}'])
def test_well_formed_json_of_the_wrong_shape_is_a_store_error(tmp_path, pristine, text):
    """Regression (found by this suite): valid JSON of the wrong shape in ``metrics_json`` reached
    ``alpha-env report`` (AttributeError: 'int' object has no attribute 'get') and ``top``."""
    from alpha_env.ace import AlphaStore
    from alpha_env.errors import StoreError

    _, source, ids = pristine
    path = tmp_path / "shape.db"
    path.write_bytes(source.read_bytes())
    _set_metrics(path, text)
    with AlphaStore(path, create=False) as store, pytest.raises(StoreError, match="metrics_json"):
        store.get(ids[0])
    assert_no_failure(fuzz.check_store(path, ids, "bad_json"))


def test_damaged_pages_with_text_that_is_not_utf8_are_a_store_error(tmp_path, pristine):
    """Regression (found by this suite): random bytes in the pages made opening the store raise
    UnicodeDecodeError (the table names read back were not UTF-8)."""
    from alpha_env.ace import AlphaStore
    from alpha_env.errors import StoreError

    _, source, _ = pristine
    seed = next(s for s in range(500) if fuzz._DAMAGE_KINDS[int(np.random.default_rng(s).integers(
        len(fuzz._DAMAGE_KINDS)))] == "random_bytes")
    path = tmp_path / "random_bytes.db"
    path.write_bytes(source.read_bytes())
    assert fuzz.damage_store(np.random.default_rng(seed), path) == "random_bytes"
    with pytest.raises(StoreError, match=r"random_bytes\.db"):
        with AlphaStore(path, create=False) as store:
            store.counts()
