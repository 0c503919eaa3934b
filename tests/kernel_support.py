"""Random arguments for an operator's kernel (``alpha_env.ops.KERNELS``), shared by the tests that check
per-operator tables (all-NaN, degenerate) against the kernels; and the comparison of two evaluators'
outcomes (an array or an error), shared by the tests of the evaluator's shortcuts (all-NaN stop, fusion)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from alpha_env.errors import ExpressionError
from alpha_env.grammar import OPERATORS, Kind

#: Constants of the operators whose constant slots need particular values (a quantile, bucket edges, ...).
CONSTS = {"ts_quantile": [0.3], "bucket": [0.9, 0.1], "scale": [1.0]}


def random_arguments(op: str, rng: np.random.Generator, window: int, shape: tuple[int, int], *,
                     noise: float = 0.5, holes: float = 0.05, market: bool = False) -> list:
    """Arguments of ``op``'s kinds: ``shape`` series of values of both signs, zeros and ties, a normal
    draw added to a share ``noise`` of the cells and NaN on a share ``holes``; ``window`` for a window;
    groups of the whole market (one code) when ``market``, else four groups and unassigned stocks."""
    args: list = []
    consts = list(CONSTS.get(op, [0.5]))
    for kind in OPERATORS[op].arg_kinds:
        if kind in (Kind.SERIES, Kind.BOOL):
            x = rng.choice([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0], size=shape)
            x += rng.standard_normal(shape) * (rng.random(shape) < noise)
            x[rng.random(shape) < holes] = np.nan
            args.append(x)
        elif kind is Kind.WINDOW:
            args.append(window)
        elif kind is Kind.GROUP:
            codes = np.zeros(shape[1]) if market else rng.integers(-1, 4, shape[1])
            args.append(codes.astype(np.int64))
        else:
            args.append(consts.pop(0))
    return args


def evaluation_outcome(evaluate: Callable[[], np.ndarray]) -> np.ndarray | str:
    """What ``evaluate()`` gives: its array, or the text of the ``ExpressionError`` it raises."""
    try:
        return evaluate()
    except ExpressionError as exc:
        return str(exc)


def assert_same_outcome(a: np.ndarray | str, b: np.ndarray | str, same: Callable[[np.ndarray, np.ndarray],
                        bool], context: object = None) -> None:
    """Two :func:`evaluation_outcome` results agree: the same error text, or arrays that ``same`` accepts."""
    if isinstance(a, str) or isinstance(b, str):
        assert a == b, context
    else:
        assert same(a, b), context
