"""On-disk embedding cache: one SQLite file, vectors keyed by (encoder id, text hash).

The cache lets a document encoder skip every text it has seen before, across runs and processes. The
file is ``<cache_dir>/embeddings.sqlite`` (WAL journal, so several processes can read and write it at
once). Vectors are stored as raw little-endian ``float32`` bytes with their length, so a vector is read
back bit for bit.

Example:
    >>> cache = EmbeddingCache(None)          # in memory
    >>> cache.put("model@abc|mean|128", [text_key("hi")], np.ones((1, 3), np.float32))
    >>> cache.get("model@abc|mean|128", [text_key("hi")])[text_key("hi")].tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from encoders.errors import SettingsError

__all__ = ["EmbeddingCache", "text_key", "CACHE_FILE_NAME"]

CACHE_FILE_NAME = "embeddings.sqlite"
_CHUNK = 500  # keys per SELECT (SQLite's bound-parameter limit is 999 on old builds)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    encoder TEXT NOT NULL,
    key TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (encoder, key)
) WITHOUT ROWID
"""


def text_key(text: str) -> str:
    """SHA-256 of the UTF-8 text, 64 hex digits: the cache key of one text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors by (encoder id, text key), in a SQLite file or in memory.

    Args:
        cache_dir: folder of the cache file (created when missing); ``None`` keeps the cache in memory
            for the life of this object.

    Attributes:
        hits: number of keys found by :meth:`get` so far.
        misses: number of keys not found by :meth:`get` so far.
    """

    def __init__(self, cache_dir: str | Path | None):
        if cache_dir is None:
            self.path: Path | None = None
            self._conn = sqlite3.connect(":memory:")
        else:
            folder = Path(cache_dir).expanduser()
            if folder.exists() and not folder.is_dir():
                raise SettingsError(f"cache_dir '{folder}' exists and is not a folder")
            folder.mkdir(parents=True, exist_ok=True)
            self.path = folder / CACHE_FILE_NAME
            self._conn = sqlite3.connect(self.path, timeout=60.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()
        self.hits = 0
        self.misses = 0

    def get(self, encoder: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors of ``keys`` under ``encoder``: ``{key: float32 (dim,)}``, absent keys left out."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT key, dim, vector FROM vectors WHERE encoder = ? AND key IN ({marks})",
                (encoder, *chunk),
            ).fetchall()
            for key, dim, blob in rows:
                vector = np.frombuffer(blob, dtype="<f4")
                if vector.shape[0] == dim:
                    found[key] = vector.astype(np.float32, copy=True)
        self.hits += len(found)
        self.misses += len(unique) - len(found)
        return found

    def put(self, encoder: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` (shape ``(len(keys), dim)``) under ``encoder``; existing keys are replaced."""
        array = np.asarray(vectors, dtype="<f4")
        if array.ndim != 2 or array.shape[0] != len(keys):
            raise ValueError(f"put: vectors of shape {array.shape} do not match {len(keys)} keys")
        dim = int(array.shape[1])
        rows = [(encoder, key, dim, array[i].tobytes()) for i, key in enumerate(keys)]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def count(self, encoder: str | None = None) -> int:
        """Number of stored vectors (of one encoder id, or of all)."""
        if encoder is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        return int(
            self._conn.execute("SELECT COUNT(*) FROM vectors WHERE encoder = ?", (encoder,)).fetchone()[0]
        )

    def close(self) -> None:
        """Close the database connection (the object is unusable afterwards)."""
        self._conn.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        return f"EmbeddingCache({where}, hits={self.hits}, misses={self.misses})"
