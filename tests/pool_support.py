"""A small random market and a reference z-score shared by the pool tests (``tests/test_pool_*.py``)."""

from __future__ import annotations

import numpy as np

__all__ = ["T", "N", "DELAY", "SPLITS", "market", "zscore_ref"]

T, N, DELAY = 160, 40, 1
SPLITS = {"train": slice(0, 100), "valid": slice(100, 130), "test": slice(130, 160)}


def market(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(close (T, N) with 2% NaN holes, universe (T, N) bool with 90% of the cells in)``."""
    rng = np.random.default_rng(seed)
    close = 40 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    close[rng.random((T, N)) < 0.02] = np.nan
    universe = rng.random((T, N)) < 0.9
    return close, universe


def zscore_ref(x: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Reference per-day z-score (ddof=1) over finite cells in the universe, NaN -> 0."""
    x = np.where(universe & np.isfinite(x), x, np.nan)
    z = (x - np.nanmean(x, axis=1, keepdims=True)) / np.nanstd(x, axis=1, ddof=1, keepdims=True)
    return np.nan_to_num(z)
