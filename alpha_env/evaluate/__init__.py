"""Evaluate alpha expressions on a market panel: ``Evaluator`` (shared LRU sub-expression cache) and the
one-shot :func:`evaluate`. See ``docs/ops.md``."""

from alpha_env.evaluate.cache import ArrayCache, CacheStats
from alpha_env.evaluate.evaluator import DEFAULT_CACHE_BYTES, Evaluator, evaluate

__all__ = ["Evaluator", "evaluate", "CacheStats", "ArrayCache", "DEFAULT_CACHE_BYTES"]
