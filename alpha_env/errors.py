"""Exception hierarchy of alpha-env.

Every error a user can cause (a bad expression, a bad data file, a bad setting) derives from
:class:`AlphaEnvError`, so the CLI can print it as one line and exit with code 2 instead of showing a
traceback.
"""

from __future__ import annotations

__all__ = ["AlphaEnvError", "ExpressionError", "DataError", "SettingsError", "StoreError"]


class AlphaEnvError(Exception):
    """Base class of every user-facing error of alpha-env."""


class ExpressionError(AlphaEnvError, ValueError):
    """A malformed or ill-typed alpha expression.

    Attributes:
        message: what is wrong, without the position.
        position: 0-based column in the expression text, or 0-based token index in an AlphaStack / id list
            (``unit="token"``), where it went wrong; ``None`` when the problem has no single place.
        expression: the text (or part of it) the error is about, when known.
        unit: what ``position`` counts: ``"column"`` (text) or ``"token"`` (stack or id list).
    """

    def __init__(self, message: str, position: int | None = None, expression: str | None = None,
                 *, unit: str = "column"):
        self.message = message
        self.position = position
        self.expression = expression
        self.unit = unit
        where = f" at {unit} {position}" if position is not None else ""
        super().__init__(message if f" at {unit} " in message else f"{message}{where}")


class DataError(AlphaEnvError, ValueError):
    """Bad market or document data: names the file, the column and the first offending rows."""


class SettingsError(AlphaEnvError, ValueError):
    """An invalid setting (backtest, environment or experiment option)."""


class StoreError(AlphaEnvError):
    """A problem with the alpha store (schema version, unknown alpha id, locked database)."""
