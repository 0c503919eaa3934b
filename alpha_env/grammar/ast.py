"""Expression tree of the language: frozen, hashable dataclasses.

``Expr = Field | Const | Window | Group | Call``. The postfix (AlphaStack) and level-order (AlphaTree)
forms are lists of *tokens*: the leaves themselves plus :class:`OpToken` for operators.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "Field",
    "Const",
    "Window",
    "Group",
    "Call",
    "OpToken",
    "Expr",
    "Leaf",
    "Token",
    "format_number",
    "token_text",
    "NAME_PATTERN",
]

#: Field, group and custom names after lower-casing.
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]*\Z")


def format_number(value: float) -> str:
    """Shortest text that parses back to exactly ``value`` (integral values without ``.0``)."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, slots=True)
class Field:
    """A data field (``close``, ``adv20``, a custom field); ``name`` is lower case."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ValueError(f"invalid field name {self.name!r} (lower-case identifier expected)")


@dataclass(frozen=True, slots=True)
class Const:
    """A finite numeric literal (stored as float; ``-0.0`` is normalised to ``0.0``)."""

    value: float

    def __post_init__(self) -> None:
        value = float(self.value)
        if not math.isfinite(value):
            raise ValueError(f"constant must be finite, got {self.value!r}")
        object.__setattr__(self, "value", value + 0.0)  # -0.0 + 0.0 == 0.0


@dataclass(frozen=True, slots=True)
class Window:
    """A look-back of ``days`` trading days (a positive integer)."""

    days: int

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise ValueError(f"window must be a positive integer number of days, got {self.days!r}")


@dataclass(frozen=True, slots=True)
class Group:
    """A grouping of stocks (``market``, ``sector``, ``industry``, ``subindustry``)."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ValueError(f"invalid group name {self.name!r}")


@dataclass(frozen=True, slots=True)
class Call:
    """Operator ``op`` (canonical name, see ``OPERATORS``) applied to ``args``."""

    op: str
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.args, tuple):
            object.__setattr__(self, "args", tuple(self.args))


@dataclass(frozen=True, slots=True)
class OpToken:
    """An operator token of the postfix/level-order forms (``name`` is canonical)."""

    name: str


Expr: TypeAlias = Field | Const | Window | Group | Call
Leaf: TypeAlias = Field | Const | Window | Group
Token: TypeAlias = Field | Const | Window | Group | OpToken


def token_text(token: Token) -> str:
    """Unique text of a token: ``close``, ``sector``, ``-1`` / ``0.5`` (constants), ``5d`` (windows),
    ``ts_rank`` (operators)."""
    if isinstance(token, Field | Group):
        return token.name
    if isinstance(token, Const):
        return format_number(token.value)
    if isinstance(token, Window):
        return f"{token.days}d"
    if isinstance(token, OpToken):
        return token.name
    raise TypeError(f"not a token: {token!r}")
