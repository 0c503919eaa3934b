"""The daily state a ``conditional`` pool's weights move with.

A ``conditional`` :class:`~alpha_env.pool.AlphaPool` weighs member ``k`` on signal day ``t`` by
``a_k + sum_j b_kj s_j(t)``, where ``s(t)`` is a low-dimensional state known at the close of ``t``. This
module turns per-day vectors (e.g. the mean embedding of the news read up to day ``t``:
:func:`alpha_env.env.embeddings.daily_news_vectors`) into that state: the first ``dim`` principal
components, with the components, their signs, means and scales all fitted on the fit rows (train) only,
so a later day's data never changes the state of an earlier one, and valid/test days are mapped with
train's loadings.

Example::

    vectors = np.random.default_rng(0).normal(size=(300, 16))   # (T, D) one vector per signal day
    state = principal_state(vectors, slice(0, 180), dim=2)     # (T, 2), mean 0 and sd 1 on rows 0..179
"""

from __future__ import annotations

import numpy as np

from alpha_env.errors import DataError

__all__ = ["principal_state"]


def principal_state(vectors: np.ndarray, fit: slice, dim: int) -> np.ndarray:
    """The first ``dim`` principal components of ``vectors``, standardised on the ``fit`` rows.

    Args:
        vectors: ``(T, D)`` one vector per signal day; a row of NaN means "nothing known that day" and
            gets the state 0 (the fit rows' mean).
        fit: the rows the components, means and scales are fitted on (the train signal rows).
        dim: number of components kept (at most ``D``).

    Returns:
        ``(T, dim)`` float64: each column has mean 0 and standard deviation 1 over the fit rows (a
        component without spread there is 0 everywhere); each component's sign makes its largest loading
        positive, so the state is a deterministic function of the fit rows.

    Raises:
        DataError: ``vectors`` is not 2-D, has an infinite value, or the fit rows hold fewer than two days
            with a vector.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"state vectors must be a (days x components) array, got shape {x.shape}")
    if np.isinf(x).any():
        raise DataError(f"state vectors: day {int(np.flatnonzero(np.isinf(x).any(axis=1))[0])} has an "
                        "infinite component")
    T, D = x.shape
    known = ~np.isnan(x).any(axis=1)
    rows = np.arange(T)[fit]
    rows = rows[known[rows]]
    if rows.size < 2:
        raise DataError(f"state vectors: the fit rows {fit.start}..{fit.stop} hold {rows.size} day(s) with "
                        "a vector; at least 2 are needed (does the data have news on its train days?)")
    dim = int(min(dim, D))
    mean = x[rows].mean(axis=0)
    _, _, vt = np.linalg.svd(x[rows] - mean, full_matrices=False)
    loadings = vt[:dim]
    flip = np.sign(loadings[np.arange(dim), np.abs(loadings).argmax(axis=1)])
    loadings = loadings * np.where(flip == 0, 1.0, flip)[:, None]
    comps = np.zeros((T, dim))
    comps[known] = (x[known] - mean) @ loadings.T
    mu = comps[rows].mean(axis=0)
    sd = comps[rows].std(axis=0)
    scale = np.where(sd > 1e-12, sd, np.inf)
    out = (comps - mu) / scale
    out[~known] = 0.0
    return out
