"""Point-in-time universe selection: which stocks are tradable on each date.

A stock is in the universe on date ``t`` when, using only data up to and including ``t``:

1. it has a close on ``t`` (listed and traded; not-listed days are NaN in every field);
2. it has at least ``min_history`` closes on dates ``<= t``;
3. when ``top_n`` is set, its ``adv{adv_window}`` on ``t`` (mean dollar volume of the ``adv_window`` days
   ending at ``t``) ranks among the ``top_n`` largest of the stocks passing 1-2 (ties: lower index first).

Nothing after ``t`` is read, so changing future data never changes today's universe (tested).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from alpha_env.data.fields import adv_field
from alpha_env.errors import DataError

__all__ = ["UniverseSpec", "compute_universe"]


@dataclass(frozen=True)
class UniverseSpec:
    """Universe options.

    Attributes:
        min_history: closes (days) a stock needs up to ``t`` to be eligible on ``t`` (>= 1).
        top_n: keep only the ``top_n`` most liquid eligible stocks by ``adv{adv_window}``; ``None``: all.
        adv_window: window in days of the liquidity measure (default 20, i.e. ``adv20``).
    """

    min_history: int = 20
    top_n: int | None = None
    adv_window: int = 20

    def __post_init__(self) -> None:
        if int(self.min_history) < 1:
            raise DataError(f"universe min_history must be >= 1, got {self.min_history}")
        if self.top_n is not None and int(self.top_n) < 1:
            raise DataError(f"universe top_n must be >= 1 or None, got {self.top_n}")
        if int(self.adv_window) < 1:
            raise DataError(f"universe adv_window must be >= 1, got {self.adv_window}")

    @classmethod
    def coerce(cls, spec: UniverseSpec | Mapping[str, Any] | None) -> UniverseSpec:
        """Accept a spec, a mapping of its fields, or ``None`` (defaults)."""
        if spec is None:
            return cls()
        if isinstance(spec, UniverseSpec):
            return spec
        unknown = set(spec) - {"min_history", "top_n", "adv_window"}
        if unknown:
            raise DataError(f"unknown universe option(s) {sorted(unknown)}; "
                            "use min_history, top_n, adv_window")
        return cls(**dict(spec))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for metadata and JSON)."""
        return asdict(self)


def compute_universe(close: np.ndarray, volume: np.ndarray | None, spec: UniverseSpec) -> np.ndarray:
    """The ``(T, N)`` bool universe of ``spec`` from ``close`` and ``volume`` (both ``(T, N)``).

    Raises:
        DataError: ``top_n`` requested without a volume field.
    """
    close = np.asarray(close, dtype=np.float64)
    listed = np.isfinite(close)
    history = np.cumsum(listed, axis=0)
    mask = listed & (history >= spec.min_history)
    if spec.top_n is None:
        return np.ascontiguousarray(mask)
    if volume is None:
        raise DataError("universe top_n needs a volume field (liquidity is ranked by adv)")
    adv = adv_field(close, np.asarray(volume, dtype=np.float64), int(spec.adv_window))
    score = np.where(mask & np.isfinite(adv), adv, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")
    rank = np.empty_like(order)
    rows = np.arange(score.shape[0])[:, None]
    rank[rows, order] = np.arange(score.shape[1])[None, :]
    return np.ascontiguousarray(mask & np.isfinite(score) & (rank < spec.top_n))
