"""``rank`` and ``group_rank`` on rows of near values all along them (differences of cent prices, values
that tie only once rounded to 10 significant digits): such rows are ranked from the values' rounding
order without branches (``sortkeys.sig_key_row``), the others by walking their runs of near keys. Either
way every cell is the definition's bits: pandas' average percentile rank of the values rounded to 10
significant digits, with the decimal exponent taken exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alpha_env.ops.crosssection import rank
from alpha_env.ops.group import group_rank
from alpha_env.ops.sortkeys import DENSE_SHARE, near_span, sorted_keys
from tests.test_ops_rank_ties import _round10


def _definition(x: np.ndarray) -> np.ndarray:
    """Average percentile rank of each row's values rounded to 10 significant digits (NaN stays NaN)."""
    return pd.DataFrame(np.vectorize(_round10)(x)).rank(axis=1, method="average", pct=True).to_numpy()


def _group_definition(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    r = np.vectorize(_round10)(x)
    for c in np.unique(g[g >= 0]):
        cols = np.flatnonzero(g == c)
        out[:, cols] = pd.DataFrame(r[:, cols]).rank(axis=1, method="average", pct=True).to_numpy()
    return out


def _near_share(x: np.ndarray) -> np.ndarray:
    """Per row, the share of sorted keys near the next one (what picks the dense path)."""
    keys, bits = sorted_keys(x)
    high = ~np.uint64((1 << bits) - 1)
    span = near_span(bits)
    share = np.zeros(x.shape[0])
    for t in range(x.shape[0]):
        n = np.count_nonzero(~np.isnan(x[t]))  # NaN keys sort last
        h = keys[t, :n] & high
        share[t] = np.count_nonzero(np.diff(h) <= span) / max(n, 1)
    return share


def _cent_rows(rng: np.random.Generator, T: int, N: int, plain_blocks: bool = True) -> np.ndarray:
    """Rows alternating in blocks between cent-price differences (near values all along: ``p + d - p`` for
    prices ``p`` of every level) and plain prices, with NaN, ``±0``, exact ties, values a few ulps apart
    and values either side of a rounding boundary (``1.2345678905`` within ulps, which the keys order by
    column: the rounding order is checked, not assumed)."""
    p = rng.uniform(5.0, 900.0, (T, N)).round(2)
    d = rng.integers(-60, 61, (T, N)) / 100.0
    x = (p + d) - p  # differences of cent prices: equal at 10 digits, rarely bit for bit
    plain = rng.lognormal(3.0, 1.0, (T, N))
    block = ((np.arange(T) // 3) % 2 == 1) & plain_blocks
    x[block] = plain[block]
    x[rng.random((T, N)) < 0.05] = np.nan
    x[::4, 1] = -0.0
    x[::4, 2] = 0.0
    boundary = 1.2345678905  # rounds down at 10 digits, the next float up rounds up
    x[::2, 3] = np.nextafter(boundary, 2.0)  # columns in the keys' low bits: out of value order
    x[::2, 4] = boundary
    x[::2, 5] = np.nextafter(boundary, 0.0)
    x[1::2, 6] = x[1::2, 7] * (1.0 + 2.0**-52)
    return x


@pytest.mark.parametrize("N", [9, 64, 505])
def test_rank_of_near_rows_is_the_definition(N):
    rng = np.random.default_rng(N)
    x = _cent_rows(rng, 40, N)
    share = _near_share(x)
    assert (share * DENSE_SHARE >= 1.0).sum() >= 10 and (share * DENSE_SHARE < 1.0).sum() >= 10
    assert rank(x).tobytes() == _definition(x).tobytes()


def test_rank_of_near_rows_with_values_it_cannot_key():
    """±inf and magnitudes beyond 1e290 have no rounding key: their rows are ranked the other way, with the
    same definition (inf ties inf; 1e300 and 1e300 * (1 + 1e-12) do not round, so they do not tie), also
    when they are the row's largest values (in key order, not out of order)."""
    rng = np.random.default_rng(1)
    x = _cent_rows(rng, 12, 160, plain_blocks=False)
    x[:, 8] = np.inf
    x[::2, 9] = np.inf
    x[::2, 10] = -np.inf
    x[1::2, 11] = 1e300
    x[1::2, 12] = 1e300 * (1.0 + 1e-12)
    assert (_near_share(x) * DENSE_SHARE >= 1.0).all()
    assert rank(x).tobytes() == _definition(x).tobytes()
    g = np.arange(160) % 3
    assert group_rank(x, g).tobytes() == _group_definition(x, g).tobytes()


@pytest.mark.parametrize("n_groups", [1, 4, 11])
def test_group_rank_of_near_rows_is_the_definition(n_groups):
    rng = np.random.default_rng(10 + n_groups)
    N = 120
    x = _cent_rows(rng, 36, N)
    g = rng.integers(-1, n_groups, N).astype(np.int64)
    g[:n_groups] = np.arange(n_groups)  # every group has a member
    got = group_rank(x, g)
    expected = _group_definition(x, g)
    assert got.tobytes() == expected.tobytes()
    assert np.isnan(got[:, g < 0]).all()


def test_parallel_rows_are_the_one_thread_bits(monkeypatch):
    """Many rows (the threaded kernels, each chunk of rows choosing its paths on its own) give the bits of
    the one-thread kernels."""
    import alpha_env.ops.crosssection as C
    import alpha_env.ops.group as G

    rng = np.random.default_rng(7)
    x = _cent_rows(rng, 500, 505)
    g = rng.integers(0, 11, 505).astype(np.int64)
    parallel = rank(x), group_rank(x, g)
    monkeypatch.setattr(C, "use_parallel", lambda size: False)
    monkeypatch.setattr(G, "use_parallel", lambda size: False)
    assert rank(x).tobytes() == parallel[0].tobytes()
    assert group_rank(x, g).tobytes() == parallel[1].tobytes()
    assert rank(x).tobytes() == _definition(x).tobytes()
