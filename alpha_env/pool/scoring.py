"""A pool slot's scores in one pass: a signal's daily z-scores over the universe, NaN stored as 0.

:func:`score_into` is bit for bit ``np.where(np.isnan(z), 0.0, z)`` with
``z = zscore(np.where(universe & np.isfinite(x), x, np.nan))`` (:func:`alpha_env.ops.crosssection.zscore`'s
row rule, the same arithmetic), written where the pool keeps it, and optionally the rows the fits read
multiplied by the target's mask: one pass over the signal instead of five NumPy passes and their
``(T, N)`` temporaries (``tests/test_pool_scoring.py`` checks the bits).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from alpha_env.errors import DataError
from alpha_env.ops.crosssection import _zscore_row
from alpha_env.ops.threads import read_only

__all__ = ["score_into"]


@njit(cache=True, error_model="numpy")
def _score_kernel(x, universe, mask, r0, r1, slots, slot, first, masked):  # pragma: no cover - compiled
    """``slots[first + t, slot]``: row ``t``'s scores; ``masked[t - r0]`` = those times ``mask[t]`` for
    ``r0 <= t < r1``."""
    R, N = x.shape
    row = np.empty((1, N))
    z = np.empty((1, N))
    for t in range(R):
        for j in range(N):
            v = x[t, j]
            row[0, j] = v if (universe[t, j] and np.isfinite(v)) else np.nan
        _zscore_row(row, 0, z)
        out = slots[first + t, slot]
        for j in range(N):
            v = z[0, j]
            out[j] = 0.0 if v != v else v
        if r0 <= t < r1:
            for j in range(N):
                masked[t - r0, j] = out[j] * (1.0 if mask[t, j] else 0.0)


def score_into(x: np.ndarray, universe: np.ndarray, slots: np.ndarray, slot: int, first: int = 0,
               mask: np.ndarray | None = None, rows: slice = slice(0, 0)) -> np.ndarray:
    """Write the scores of ``x`` into a pool slot and return the masked scores of ``rows``.

    Args:
        x: ``(R, N)`` float64 signal (NaN and ±inf are missing).
        universe: ``(R, N)`` bool; cells outside it are missing.
        slots: ``(T, S, N)`` float64 C-contiguous, the pool's day-major slots: the rows ``first ..
            first + R - 1`` of slot ``slot`` get each row's z-score (``n - 1``), 0 where missing and on
            rows without spread (one compiled signature, which the install's warmup compiles).
        slot, first: the slot and the first date written.
        mask: ``(M, N)`` bool with ``M >= rows.stop`` (the target's finite cells by signal row), when
            ``rows`` is not empty.
        rows: ``start, stop`` within ``0 .. R``: the signal rows whose masked scores are returned.

    Returns:
        ``(rows.stop - rows.start, N)`` float64: the scores of ``rows`` times ``mask[rows]`` (bit for bit
        ``Z[rows] * mask[rows]``).

    Raises:
        DataError: ``slots`` of another layout or size, ``rows`` outside ``0 .. R``, or rows without a
            mask.
    """
    R, N = x.shape
    if (slots.ndim != 3 or slots.dtype != np.float64 or not slots.flags.c_contiguous or slots.shape[2] != N
            or not 0 <= slot < slots.shape[1] or not 0 <= first <= slots.shape[0] - R):
        raise DataError(f"slots {slots.shape} {slots.dtype} cannot take {R} rows of {N} stocks at date "
                        f"{first} in slot {slot} (a C-contiguous (T, S, N) float64 array is needed)")
    r0, r1 = int(rows.start or 0), int(rows.stop if rows.stop is not None else R)
    if not 0 <= r0 <= r1 <= R:
        raise DataError(f"score rows {r0}..{r1} lie outside the signal's {R} rows")
    masked = np.empty((r1 - r0, N))
    if r1 > r0 and mask is None:
        raise DataError("score rows need the target's mask")
    m = mask if mask is not None else np.zeros((0, N), bool)
    x, universe, m = (read_only(np.ascontiguousarray(a)) for a in (np.asarray(x, np.float64), universe, m))
    _score_kernel(x, universe, m, r0, r1, slots, int(slot), int(first), masked)
    return masked
