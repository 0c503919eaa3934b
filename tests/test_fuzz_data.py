"""Fuzz suite, data files (issue 19, Proof): CSVs with missing columns, bad dates, duplicate and intraday
rows, inf/NaN prices, truncated gzip, empty and garbage files either load or fail with one DataError, in
``load_panel``, ``check_dataset`` and ``alpha-env data info|check`` (exit 0/1/2, no traceback); no
infinite price and no empty split loads. Generators and rules: ``benchmarks/fuzz_reliability.py``."""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_support import assert_no_failure, load_fuzz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

fuzz = load_fuzz()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1))
def test_bad_data_files_load_or_raise_data_error(tmp_path, seed):
    path, kind = fuzz.write_bad_data_file(np.random.default_rng(seed), tmp_path)
    try:
        assert_no_failure(fuzz.check_data_file(path, kind, cli=seed % 4 == 0))
    finally:
        path.unlink()


@pytest.mark.parametrize("kind", fuzz._DATA_KINDS)
def test_every_kind_of_bad_file(tmp_path, kind):
    """Each generator kind at least once, through the CLI too."""
    for seed in range(2000):
        rng = np.random.default_rng(seed)
        if fuzz._DATA_KINDS[int(np.random.default_rng(seed).integers(len(fuzz._DATA_KINDS)))] == kind:
            path, got = fuzz.write_bad_data_file(rng, tmp_path)
            assert got == kind
            assert_no_failure(fuzz.check_data_file(path, kind))
            return
    pytest.fail(f"no seed below 2000 makes a {kind!r} file")


@pytest.mark.parametrize(("spike", "at"), [(1e17, [3]), (1e308, [2, 3])])
def test_adv_is_exact_after_a_huge_dollar_volume_leaves_the_window(spike, at):
    """Regression (found by the fuzz run's overflow warnings): ``adv{d}`` was a running total minus
    another, so one huge dollar volume spoiled every later value of the stock (rounded away below
    1e17; inf - inf = NaN forever after two values near 1e308)."""
    from alpha_env.data.fields import adv_field

    close = np.ones((40, 2))
    volume = np.tile([1.3, 2.7], (20, 2)).reshape(40, 2)
    volume[at, 0] = spike
    got = adv_field(close, volume, 5)
    with np.errstate(over="ignore"):
        want = np.array([volume[t - 4 : t + 1].mean(axis=0) for t in range(4, 40)])
    after = max(at) + 5 - 4  # first row of ``want`` whose window excludes the spike
    np.testing.assert_allclose(got[max(at) + 5 :], want[after:], rtol=1e-12)
    np.testing.assert_allclose(got[4:, 1], want[:, 1], rtol=1e-12)
    assert np.isnan(got[:4]).all()
