"""Evaluate alpha expressions on a market panel: ``Evaluator`` (shared LRU sub-expression cache), the
one-shot :func:`evaluate`, and bounds of an expression's values without computing it (:class:`Bound`,
``Evaluator.bound``). See ``docs/ops.md``."""

from alpha_env.evaluate.bounds import Bound, expression_bound
from alpha_env.evaluate.cache import ArrayCache, CacheStats
from alpha_env.evaluate.evaluator import DEFAULT_CACHE_BYTES, Evaluator, evaluate

__all__ = ["Evaluator", "evaluate", "CacheStats", "ArrayCache", "DEFAULT_CACHE_BYTES", "Bound",
           "expression_bound"]
