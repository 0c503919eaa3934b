"""Token kinds and physical units of the expression language.

A *kind* says what a value is to the type checker (a series, a boolean series, a look-back window, a
numeric constant, a group label). A *unit* (price, volume, dimensionless, mixed) is an optional second
axis used only when unit checks are switched on. A :class:`Value` is the pair, the abstract value that the
type checker, the parser and :class:`~alpha_env.grammar.state.GrammarState` reason about.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Kind", "Unit", "Value", "SERIES_LIKE"]


class Kind(enum.Enum):
    """What a (sub-)expression is.

    ``SERIES``: a ``(T, N)`` float panel. ``BOOL``: a 1.0/0.0 panel (accepted wherever a series is).
    ``WINDOW``: a positive integer look-back in days (only as an operator's look-back argument).
    ``CONST``: a numeric literal (accepted in a series argument as long as the call has a non-constant
    argument). ``GROUP``: a group label such as ``sector`` (only as a group operator's argument).
    """

    SERIES = "series"
    BOOL = "bool"
    WINDOW = "window"
    CONST = "const"
    GROUP = "group"


#: Kinds that can be the value of a finished alpha (a boolean alpha is a 1/0 signal).
SERIES_LIKE: frozenset[Kind] = frozenset({Kind.SERIES, Kind.BOOL})


class Unit(enum.Enum):
    """Physical unit of a series, used only by the optional unit checks.

    ``MIXED`` means "some other or unknown unit" (price x volume, custom fields): it is compatible with
    every unit, so unit checks only reject sums and comparisons of price with volume or with a
    dimensionless quantity, and volume with a dimensionless quantity.
    """

    DIMLESS = "dimensionless"
    PRICE = "price"
    VOLUME = "volume"
    MIXED = "mixed"


@dataclass(frozen=True, slots=True)
class Value:
    """Abstract value of an expression: its kind and, for series when units are checked, its unit."""

    kind: Kind
    unit: Unit | None = None

    def __str__(self) -> str:
        return self.kind.value if self.unit is None else f"{self.kind.value}[{self.unit.value}]"
