"""A byte-bounded LRU cache of read-only arrays, keyed by canonical expression text."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from alpha_env.errors import SettingsError

__all__ = ["CacheStats", "ArrayCache"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of an :class:`ArrayCache`.

    Attributes:
        hits: look-ups that found their key.
        misses: look-ups that did not.
        bytes: bytes held now (sum of ``array.nbytes``).
        entries: arrays held now.
        evictions: arrays dropped to respect the budget.
        capacity: the byte budget.
    """

    hits: int
    misses: int
    bytes: int
    entries: int
    evictions: int
    capacity: int

    @property
    def hit_rate(self) -> float:
        """``hits / (hits + misses)`` (0 before any look-up)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def as_dict(self) -> dict[str, float]:
        """Plain dict (for logs and JSON)."""
        return {"hits": self.hits, "misses": self.misses, "bytes": self.bytes, "entries": self.entries,
                "evictions": self.evictions, "capacity": self.capacity, "hit_rate": self.hit_rate}


class ArrayCache:
    """Least-recently-used map ``key -> read-only ndarray`` holding at most ``capacity`` bytes.

    An array larger than the whole budget is not stored. Stored arrays are made read-only, so a value
    handed out twice cannot be changed behind the cache's back.
    """

    def __init__(self, capacity: int):
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 0:
            raise SettingsError(f"cache_bytes must be an integer >= 0, got {capacity!r}")
        self._capacity = int(capacity)
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def get(self, key: str, min_rows: int = 0) -> np.ndarray | None:
        """The array stored under ``key`` (marking it most recently used), or ``None`` (a miss) when there
        is none or it has fewer than ``min_rows`` rows."""
        value = self._data.get(key)
        if value is None or value.shape[0] < min_rows:
            self._misses += 1
            return None
        self._data.move_to_end(key)
        self._hits += 1
        return value

    def put(self, key: str, value: np.ndarray) -> None:
        """Store ``value`` (made read-only) under ``key``, evicting the least recently used arrays."""
        size = int(value.nbytes)
        if size > self._capacity:
            return
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= int(old.nbytes)
        value.setflags(write=False)
        self._data[key] = value
        self._bytes += size
        while self._bytes > self._capacity:
            _, dropped = self._data.popitem(last=False)
            self._bytes -= int(dropped.nbytes)
            self._evictions += 1

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Drop every array (the counters of hits, misses and evictions are kept)."""
        self._data.clear()
        self._bytes = 0

    def stats(self) -> CacheStats:
        """Current counters."""
        return CacheStats(self._hits, self._misses, self._bytes, len(self._data), self._evictions,
                          self._capacity)
