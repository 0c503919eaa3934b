"""The pool's one-pass slot scores against the NumPy expression they replace, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alpha_env.errors import DataError
from alpha_env.ops.crosssection import zscore
from alpha_env.pool.scoring import score_into

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 1.0 + 1e-12, 5e-324, 1e308, -1e308, 3.0]


def _reference(x, universe, mask, rows):
    z = zscore(np.where(universe & np.isfinite(x), x, np.nan))
    filled = np.where(np.isnan(z), 0.0, z)
    return filled, filled[rows] * mask[rows]


def _slots(R, N, slots=3):
    """A pool's ``(T, S, N)`` slot array (more dates than the signal, filled with a marker)."""
    return np.full((R + 2, slots, N), 7.0)


def _bits(a):
    return np.ascontiguousarray(a).view(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_scores_are_the_numpy_expressions_bits(seed):
    rng = np.random.default_rng(seed)
    R, N = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    x = rng.normal(size=(R, N)) * 10.0 ** rng.integers(-300, 300, size=(R, 1))
    special = rng.random((R, N)) < 0.2
    x[special] = rng.choice(SPECIAL, size=int(special.sum()))
    x[rng.random((R, N)) < 0.1] = np.nan
    if R > 2:
        x[1] = 4.0  # a flat day: no spread, every score 0
        x[2, :] = 4.0
        x[2, 0] = 4.0 * (1 + 1e-12)  # equal at 10 significant digits: no spread either
    universe = rng.random((R, N)) < 0.85
    mask = rng.random((R, N)) < 0.9
    rows = slice(int(rng.integers(0, R + 1)), R)
    rows = slice(rows.start, int(rng.integers(rows.start, R + 1)))
    slots = _slots(R, N)
    masked = score_into(x, universe, slots, 1, 2, mask, rows)
    want, want_masked = _reference(x, universe, mask, rows)
    assert _bits(slots[2:, 1]).tolist() == _bits(want).tolist()
    assert (slots[:2] == 7.0).all() and (slots[:, [0, 2]] == 7.0).all()  # nothing else written
    assert masked.shape == want_masked.shape and _bits(masked).tolist() == _bits(want_masked).tolist()


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 8)),
              elements=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(SPECIAL))),
       st.data())
def test_scores_match_on_arbitrary_values(x, data):
    R, N = x.shape
    universe = data.draw(arrays(np.bool_, (R, N)))
    mask = data.draw(arrays(np.bool_, (R, N)))
    slots = _slots(R, N)
    masked = score_into(x, universe, slots, 0, 0, mask, slice(0, R))
    want, want_masked = _reference(x, universe, mask, slice(0, R))
    assert _bits(slots[:R, 0]).tolist() == _bits(want).tolist()
    assert _bits(masked).tolist() == _bits(want_masked).tolist()


def test_rows_must_lie_in_the_signal_and_need_the_mask_and_slots_fit():
    x, universe = np.ones((4, 3)), np.ones((4, 3), bool)
    with pytest.raises(DataError, match="outside"):
        score_into(x, universe, _slots(4, 3), 0, 0, np.ones((4, 3), bool), slice(2, 5))
    with pytest.raises(DataError, match="mask"):
        score_into(x, universe, _slots(4, 3), 0, 0, None, slice(0, 2))
    wrong = [(_slots(4, 3), 3, 0), (_slots(4, 3), 0, 3), (_slots(4, 3)[:, :, :2], 0, 0),
             (np.asfortranarray(_slots(4, 3)), 0, 0), (_slots(4, 3).astype(np.float32), 0, 0)]
    for slots, slot, first in wrong:
        with pytest.raises(DataError, match="slots"):
            score_into(x, universe, slots, slot, first)
    assert score_into(x, universe, _slots(4, 3), 0).shape == (0, 3)
