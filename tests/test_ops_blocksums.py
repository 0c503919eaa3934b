"""The ``adv{d}`` kernel (alpha_env.ops.blocksums) against NumPy's block sums, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_env.data.fields import adv_field
from alpha_env.errors import DataError
from alpha_env.ops.blocksums import dollar_volume_mean


def _reference(close: np.ndarray, volume: np.ndarray, d: int) -> np.ndarray:
    """Round 1's NumPy ``adv{d}``: prefix sums within blocks of ``d`` rows (``cumsum``) plus suffix sums
    within the previous block, divided by ``d`` where all ``d`` products are finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        dv = close * volume
    ok = np.isfinite(dv)
    filled = np.where(ok, dv, 0.0)
    t, n = dv.shape
    out = np.full(dv.shape, np.nan)
    if d > t:
        return out
    count = np.zeros((t + 1, n), dtype=np.int64)
    np.cumsum(ok, axis=0, out=count[1:])
    blocks = -(-t // d)
    padded = np.zeros((blocks * d, n))
    padded[:t] = filled
    tiles = padded.reshape(blocks, d, n)
    with np.errstate(over="ignore", invalid="ignore"):
        prefix = np.cumsum(tiles, axis=1).reshape(-1, n)[:t]
        suffix = np.cumsum(tiles[:, ::-1], axis=1)[:, ::-1].reshape(-1, n)[:t]
        start = np.arange(t - d + 1)
        end = start + d - 1
        sums = np.where((start % d == 0)[:, None], prefix[end], suffix[start] + prefix[end])
        out[d - 1:] = np.where(count[d:] - count[:-d] == d, sums / d, np.nan)
    return out


def _panel(seed: int, t: int, n: int, holes: float, huge: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = rng.lognormal(3.0, 1.0, (t, n))
    volume = rng.lognormal(13.0, 2.0, (t, n))
    close[rng.random((t, n)) < holes] = np.nan
    volume[rng.random((t, n)) < holes / 2] = np.inf
    if huge:  # dollar volumes that overflow, and ones far apart in scale
        volume[rng.random((t, n)) < 0.02] = 1e306
        close[rng.random((t, n)) < 0.02] = -0.0
    return close, volume


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), t=st.integers(1, 90), n=st.integers(1, 7), d=st.integers(1, 100),
       holes=st.sampled_from([0.0, 0.05, 0.4]), huge=st.booleans())
def test_the_kernel_is_numpys_block_sums_bit_for_bit(seed, t, n, d, holes, huge):
    close, volume = _panel(seed, t, n, holes, huge)
    got = dollar_volume_mean(close, volume, d)
    np.testing.assert_array_equal(got, _reference(close, volume, d))
    assert got.shape == (t, n) and got.dtype == np.float64


@pytest.mark.parametrize("d", [1, 5, 20, 120, 250])
def test_panel_sized_windows_and_the_field_entry_point(d):
    close, volume = _panel(7, 260, 40, 0.02, True)
    want = _reference(close, volume, d)
    np.testing.assert_array_equal(adv_field(close, volume, d), want)
    np.testing.assert_array_equal(adv_field(close.astype(np.float32), volume, d),  # any float input
                                  _reference(close.astype(np.float32).astype(np.float64), volume, d))


def test_bad_shapes_and_windows_are_clear_errors():
    close, volume = _panel(1, 10, 3, 0.0, False)
    with pytest.raises(DataError, match="one shape"):
        dollar_volume_mean(close, volume[:, :2], 3)
    with pytest.raises(DataError, match=">= 1 day"):
        dollar_volume_mean(close, volume, 0)
