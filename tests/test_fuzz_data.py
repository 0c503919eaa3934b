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
