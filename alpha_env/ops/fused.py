"""Fused element-wise evaluation: a chain of element-wise operators in one pass over cache-sized tiles.

An element-wise operator reads its operands and writes a new ``(T, N)`` array; on a reward's panel
(755 × 500 float64, 3 MB, more than a core's L2 cache) each one runs at memory speed, so a chain such as
A101's ``(close - open) / ((high - low) + .001)`` pays four passes over memory and three intermediate
arrays. A :class:`FusedProgram` instead runs the whole chain over tiles of :data:`TILE` cells: the inputs
are read where they lie, once per tile, the intermediates live in registers (one tile each) that stay in
the L2 cache, numbers fill a register once, and only the result is written. Every operator applies
exactly the scalar rule of its ufunc in :mod:`alpha_env.ops.elementwise` (the same compiled functions;
``pow``/``signedpower`` with one number as exponent its one-exponent loop), so a program gives the
operators' bits; ``tests/test_ops_fused.py`` checks each operator on adversarial values and every kind of
operand, and the evaluator's fused and unfused results on random expressions.

Fusable operators: :data:`FUSABLE`. ``log`` is not fusable (NumPy's SIMD ``log`` gives its bits, which
a scalar libm call need not repeat), nor ``vec_avg`` (a copy) or ``bucket``.

Example::

    program = FusedProgram(rows=755, n_stocks=500)
    close, open_ = program.leaf(panel_close), program.leaf(panel_open)
    result = program.run(program.call("div", [program.call("sub", [close, open_]), program.leaf(2.0)]))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from alpha_env.errors import ExpressionError
from alpha_env.ops.elementwise import (
    _EQ,
    _GE,
    _GT,
    _LE,
    _LT,
    _MIRROR,
    _NE,
    _TIE_VALUE,
    _abs_rule,
    _add_rule,
    _and_rule,
    _compare_body,
    _div_rule,
    _if_else_rule,
    _max_rule,
    _min_rule,
    _mul_rule,
    _neg_rule,
    _not_rule,
    _or_rule,
    _pow_one_exponent,
    _pow_rule,
    _sign_rule,
    _signedpower_rule,
    _sqrt_rule,
    _sub_rule,
)
from alpha_env.ops.threads import read_only

__all__ = ["FUSABLE", "MAX_INPUTS", "TILE", "FusedProgram", "ProgramFull"]

TILE = 4096
"""Cells per tile: one register is 32 KiB, so a program's registers stay in a core's L2 cache (measured
best among 256-4096 on a 2 MiB L2: a smaller tile pays the interpreter's per-instruction cost more often)."""

MAX_INPUTS = 8
"""Distinct array inputs of one program (the kernel takes a fixed-size tuple: one compiled signature)."""

# instruction codes (column 0 of a program); a CONST register holds one number on every cell
_CONST = 1
_NEG, _ABS, _SIGN, _NOT, _SQRT = 2, 3, 4, 5, 6
_ADD, _SUB, _MUL, _DIV, _MAX, _MIN, _AND, _OR, _POW, _SPOW = 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
_CMP = 17  # column 4: the comparison code of alpha_env.ops.elementwise
_IF_ELSE = 18

#: Operator name → (instruction code, comparison code or -1).
_CODES: dict[str, tuple[int, int]] = {
    "neg": (_NEG, -1), "abs": (_ABS, -1), "sign": (_SIGN, -1), "not": (_NOT, -1), "sqrt": (_SQRT, -1),
    "add": (_ADD, -1), "sub": (_SUB, -1), "mul": (_MUL, -1), "div": (_DIV, -1), "max": (_MAX, -1),
    "min": (_MIN, -1), "and": (_AND, -1), "or": (_OR, -1), "pow": (_POW, -1), "signedpower": (_SPOW, -1),
    "lt": (_CMP, _LT), "le": (_CMP, _LE), "gt": (_CMP, _GT), "ge": (_CMP, _GE), "eq": (_CMP, _EQ),
    "ne": (_CMP, _NE), "if_else": (_IF_ELSE, -1),
}

FUSABLE: frozenset[str] = frozenset(_CODES)
"""Operators a :class:`FusedProgram` computes (by registry name)."""

_ARITY = {**{op: 1 for op in ("neg", "abs", "sign", "not", "sqrt")}, "if_else": 3}


@njit(cache=True, error_model="numpy")
def _unary_tile(code, x, z):  # pragma: no cover - compiled
    """``z = op(x)`` over one tile (``x`` a register or an input's slice)."""
    m = z.size
    if code == _NEG:
        for k in range(m):
            z[k] = _neg_rule(x[k])
    elif code == _ABS:
        for k in range(m):
            z[k] = _abs_rule(x[k])
    elif code == _SIGN:
        for k in range(m):
            z[k] = _sign_rule(x[k])
    elif code == _NOT:
        for k in range(m):
            z[k] = _not_rule(x[k])
    else:  # _SQRT
        for k in range(m):
            z[k] = _sqrt_rule(x[k])


@njit(cache=True, error_model="numpy")
def _binary_tile(code, comparison, x, y, z):  # pragma: no cover - compiled
    """``z = op(x, y)`` over one tile (each operand a register or an input's slice)."""
    m = z.size
    if code == _ADD:
        for k in range(m):
            z[k] = _add_rule(x[k], y[k])
    elif code == _SUB:
        for k in range(m):
            z[k] = _sub_rule(x[k], y[k])
    elif code == _MUL:
        for k in range(m):
            z[k] = _mul_rule(x[k], y[k])
    elif code == _DIV:
        for k in range(m):
            z[k] = _div_rule(x[k], y[k])
    elif code == _MAX:
        for k in range(m):
            z[k] = _max_rule(x[k], y[k])
    elif code == _MIN:
        for k in range(m):
            z[k] = _min_rule(x[k], y[k])
    elif code == _AND:
        for k in range(m):
            z[k] = _and_rule(x[k], y[k])
    elif code == _OR:
        for k in range(m):
            z[k] = _or_rule(x[k], y[k])
    elif code == _POW:
        for k in range(m):
            z[k] = _pow_rule(x[k], y[k])
    elif code == _SPOW:
        for k in range(m):
            z[k] = _signedpower_rule(x[k], y[k])
    else:  # _CMP
        _compare_body(x, y, comparison, _TIE_VALUE[comparison], z)


@njit(cache=True, error_model="numpy")
def _if_else_tile(c, a, b, z):  # pragma: no cover - compiled
    """``z = if_else(c, a, b)`` over one tile."""
    for k in range(z.size):
        z[k] = _if_else_rule(c[k], a[k], b[k])


@njit(cache=True, error_model="numpy")
def _run_program(program, constants, inputs, out):  # pragma: no cover - compiled
    """Run ``program`` over tiles of the flat ``inputs`` into the flat ``out``.

    ``program`` is ``(P, 5)`` int64: rows ``code, a, b, c, comparison``; instruction ``p`` writes register
    ``p`` (the last one writes ``out``). An operand ``r >= 0`` is register ``r`` (an earlier instruction),
    ``r < 0`` the array input ``-r - 1`` (read where it lies: inputs are not copied); a CONST instruction's
    ``a`` indexes ``constants``. ``inputs`` is a tuple of :data:`MAX_INPUTS` read-only flat arrays (unused
    ones empty).
    """
    n = out.size
    last = program.shape[0] - 1
    registers = np.empty((last + 2, TILE))  # a scratch row for an if_else condition that is an input
    for p in range(last + 1):  # constants: filled once, read by every tile
        if program[p, 0] == _CONST:
            registers[p, :] = constants[program[p, 1]]
    for start in range(0, n, TILE):
        m = min(TILE, n - start)
        stop = start + m
        for p in range(last + 1):
            code = program[p, 0]
            if code == _CONST:
                continue
            z = out[start:stop] if p == last else registers[p, :m]
            a = program[p, 1]
            b = program[p, 2]
            if code < _ADD:
                if a < 0:
                    _unary_tile(code, inputs[-a - 1][start:stop], z)
                else:
                    _unary_tile(code, registers[a, :m], z)
            elif (code == _POW or code == _SPOW) and b >= 0 and program[b, 0] == _CONST \
                    and abs(constants[program[b, 1]]) < 2.0**53:
                # one exponent: its cases decided once per tile, as pow/signedpower do (the same rule)
                if a < 0:
                    _pow_one_exponent(inputs[-a - 1][start:stop], constants[program[b, 1]], code == _SPOW, z)
                else:
                    _pow_one_exponent(registers[a, :m], constants[program[b, 1]], code == _SPOW, z)
            elif code != _IF_ELSE:
                comparison = program[p, 4]
                if a < 0 and b < 0:
                    _binary_tile(code, comparison, inputs[-a - 1][start:stop], inputs[-b - 1][start:stop], z)
                elif a < 0:
                    _binary_tile(code, comparison, inputs[-a - 1][start:stop], registers[b, :m], z)
                elif b < 0:
                    _binary_tile(code, comparison, registers[a, :m], inputs[-b - 1][start:stop], z)
                else:
                    _binary_tile(code, comparison, registers[a, :m], registers[b, :m], z)
            else:  # if_else: a condition that is an input is copied to a scratch row (a rarer case)
                if a < 0:
                    registers[last + 1, :m] = inputs[-a - 1][start:stop]
                    a = last + 1
                cond = registers[a, :m]
                x = b  # the branches are read where they lie, as binary operators' operands are
                y = program[p, 3]
                if x < 0 and y < 0:
                    _if_else_tile(cond, inputs[-x - 1][start:stop], inputs[-y - 1][start:stop], z)
                elif x < 0:
                    _if_else_tile(cond, inputs[-x - 1][start:stop], registers[y, :m], z)
                elif y < 0:
                    _if_else_tile(cond, registers[x, :m], inputs[-y - 1][start:stop], z)
                else:
                    _if_else_tile(cond, registers[x, :m], registers[y, :m], z)


class ProgramFull(ExpressionError):
    """An array operand beyond :data:`MAX_INPUTS` distinct ones: the chain must be cut (the evaluator
    computes part of it first)."""


class FusedProgram:
    """A chain of element-wise operators on ``(rows, n_stocks)`` operands, run in one tiled pass.

    :meth:`leaf` and :meth:`call` return operand handles; :meth:`run` computes a call's value.

    Args:
        rows: dates ``T`` of every array operand.
        n_stocks: stocks ``N`` of every array operand.
    """

    def __init__(self, rows: int, n_stocks: int):
        self.shape = (int(rows), int(n_stocks))
        self._program: list[tuple[int, int, int, int, int]] = []
        self._constants: list[float] = []
        self._inputs: list[np.ndarray] = []
        self._input_ids: dict[int, int] = {}  # id(array) -> input index (an array read twice is one input)

    @property
    def n_inputs(self) -> int:
        """Distinct array inputs so far (at most :data:`MAX_INPUTS`)."""
        return len(self._inputs)

    def leaf(self, value: np.ndarray | float) -> int:
        """The handle of an operand: a ``(rows, n_stocks)`` float64 array (read where it lies) or a number.

        Raises:
            ExpressionError: an array of another shape or dtype.
            ProgramFull: a new array beyond :data:`MAX_INPUTS` distinct ones (the program is unchanged).
        """
        if not isinstance(value, np.ndarray):
            self._constants.append(float(value))
            return self._emit(_CONST, len(self._constants) - 1, 0, 0, 0)
        if value.shape != self.shape or value.dtype != np.float64:
            raise ExpressionError(f"fused element-wise operand of shape {value.shape} and dtype "
                                  f"{value.dtype}, expected {self.shape} float64")
        index = self._input_ids.get(id(value))
        if index is None:
            if len(self._inputs) == MAX_INPUTS:
                raise ProgramFull(f"a fused program takes at most {MAX_INPUTS} array inputs")
            index = self._input_ids[id(value)] = len(self._inputs)
            self._inputs.append(value)
        return -index - 1

    def call(self, op: str, operands: Sequence[int]) -> int:
        """The handle of ``op`` (a fusable operator, :data:`FUSABLE`) of the handles ``operands``.

        Raises:
            ExpressionError: an operator that is not fusable or a wrong number of operands.
        """
        if op not in _CODES:
            raise ExpressionError(f"'{op}' is not a fusable element-wise operator", expression=op)
        if len(operands) != _ARITY.get(op, 2):
            raise ExpressionError(f"{op} takes {_ARITY.get(op, 2)} operands, got {len(operands)}",
                                  expression=op)
        code, comparison = _CODES[op]
        regs = list(operands)
        if comparison >= 0 and self._is_constant(regs[0]) and not self._is_constant(regs[1]):
            regs.reverse()  # a number on the left: the mirrored comparison, as the operator itself does
            comparison = _MIRROR[comparison]
        regs += [0] * (3 - len(regs))
        return self._emit(code, regs[0], regs[1], regs[2], comparison)

    def _is_constant(self, handle: int) -> bool:
        return handle >= 0 and self._program[handle][0] == _CONST

    def _emit(self, code: int, a: int, b: int, c: int, comparison: int) -> int:
        self._program.append((code, a, b, c, comparison))
        return len(self._program) - 1

    def run(self, handle: int) -> np.ndarray:
        """The ``(rows, n_stocks)`` value of the call ``handle`` (a new writable array), computing only
        what it reads.

        Raises:
            ExpressionError: ``handle`` is not a call, or the program reads no array (numbers only).
        """
        if handle < 0 or self._program[handle][0] == _CONST:
            raise ExpressionError("a fused program runs a call, not an operand")
        if not self._inputs:
            raise ExpressionError("a fused program needs at least one (T, N) series operand")
        program = np.array(self._program[: handle + 1], dtype=np.int64)
        constants = np.array(self._constants if self._constants else [0.0], dtype=np.float64)
        empty = read_only(np.empty(0))
        flat = [read_only(np.ascontiguousarray(x).reshape(-1)) for x in self._inputs]
        inputs = tuple(flat + [empty] * (MAX_INPUTS - len(flat)))
        out = np.empty(self.shape)
        _run_program(read_only(program), read_only(constants), inputs, out.reshape(-1))
        return out
