"""``sort_key_rows`` (32-bit coarse sort, refined) orders key rows exactly as NumPy's 64-bit row sort."""

from __future__ import annotations

import numpy as np
import pytest

from alpha_env.ops import sortkeys
from alpha_env.ops.sortkeys import COARSE_MAX_BITS, sort_key_rows
from alpha_env.ops.threads import read_only


def _keys(x: np.ndarray) -> tuple[np.ndarray, int]:
    bits = max(1, int(x.shape[1] - 1).bit_length())
    keys = np.empty(x.shape, np.uint64)
    sortkeys._sort_keys_serial(read_only(x), bits, keys)  # the kernels' input type (ops.threads)
    return keys, bits


def _panels(N: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(N)
    T = 40
    normal = rng.standard_normal((T, N))
    holes = normal.copy()
    holes[rng.random((T, N)) < 0.3] = np.nan
    special = rng.choice([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -5e-324, 5e-324, 1.0], (T, N))
    return {
        "normal": normal,
        "nan": holes,
        "ties": rng.integers(-3, 4, (T, N)).astype(float),
        "narrow band": 100.0 + rng.random((T, N)) * 0.05,  # one coarse run per row: the row-sort fallback
        "ulps": 1.0 + rng.integers(0, 50, (T, N)) * 2.0**-52,
        "special": special,
        "all nan": np.full((T, N), np.nan),
    }


@pytest.mark.parametrize("N", [1, 2, 3, 7, 500, 1000, 3000])
@pytest.mark.parametrize("parallel", [False, True])
def test_coarse_sort_equals_numpy_row_sort(N, parallel):
    for name, x in _panels(N).items():
        keys, bits = _keys(x)
        expected = np.sort(keys, axis=1)
        sort_key_rows(keys, bits, parallel)
        np.testing.assert_array_equal(keys, expected, err_msg=name)


def test_rows_wider_than_the_coarse_keys_use_the_64_bit_sort():
    rng = np.random.default_rng(0)
    N = (1 << COARSE_MAX_BITS) + 5
    x = rng.standard_normal((2, N))
    keys, bits = _keys(x)
    assert bits > COARSE_MAX_BITS
    expected = np.sort(keys, axis=1)
    sort_key_rows(keys, bits)
    np.testing.assert_array_equal(keys, expected)


def test_empty_panels():
    for shape in ((0, 5), (3, 0)):
        keys = np.empty(shape, np.uint64)
        sort_key_rows(keys, 3)
        assert keys.shape == shape
