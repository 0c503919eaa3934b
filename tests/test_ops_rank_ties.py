"""``rank`` on rows of heavy exact ties (the ranks of ``ts_argmax``, comparisons, ``sign``): the tie groups
skip the rounding of every member but give the average ranks of the definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alpha_env.ops.crosssection import rank


def _reference(x: np.ndarray) -> np.ndarray:
    return pd.DataFrame(x).rank(axis=1, method="average", pct=True).to_numpy()


@pytest.mark.parametrize("case", ["argmax", "binary_nan", "signed_zero", "mixed"])
def test_rank_of_heavy_ties(case):
    rng = np.random.default_rng(3)
    shape = (40, 300)
    if case == "argmax":
        x = rng.integers(1, 6, shape).astype(float)
    elif case == "binary_nan":
        x = np.where(rng.random(shape) < 0.2, np.nan, rng.integers(0, 2, shape).astype(float))
    elif case == "signed_zero":
        x = rng.choice([-0.0, 0.0, 1.0, -1.0, 2.5], shape)
    else:  # ties next to values that tie only once rounded to 10 significant digits
        x = rng.integers(1, 5, shape).astype(float)
        x[:, ::7] = np.nan
    expected = _reference(x)
    if case == "mixed":
        x = x * rng.choice([1.0, 1.0 + 1e-13], shape)
    np.testing.assert_allclose(rank(x), expected, rtol=1e-15, atol=0.0)
    assert np.array_equal(np.isnan(rank(x)), np.isnan(x))
