"""Backtest settings (WorldQuant-style): delay, decay, neutralization, truncation, book size, costs.

Every value is checked when the settings are built, so a bad setting fails at once with a
:class:`~alpha_env.errors.SettingsError` that names it, never deep inside a Numba kernel.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType
from typing import Any, TypeVar

from alpha_env.errors import SettingsError

__all__ = [
    "BacktestSettings",
    "NEUTRALIZATIONS",
    "RETURN_CLEANING_DEFAULTS",
    "drop_cleaning_defaults",
    "settings_from_dict",
]

#: Accepted neutralization modes. ``none`` keeps the raw signal, ``market`` demeans the whole
#: cross-section, the others demean within the panel group of that name.
NEUTRALIZATIONS: tuple[str, ...] = ("none", "market", "sector", "industry", "subindustry")


#: The return-cleaning settings and their "off" defaults. A settings dict (``to_dict``, and so the alpha
#: id) names them only when they differ from these, so every id made before they existed still holds.
RETURN_CLEANING_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {"max_return": 0.0, "glitch_factor": 0.0, "glitch_band": 0.05}
)

_S = TypeVar("_S")

@dataclass(frozen=True)
class BacktestSettings:
    """How a signal becomes a traded book.

    Attributes:
        delay: 0 or 1 days between the signal's data (close of day t) and the trade (close of t+delay).
        decay: linear decay length in days (0 or 1 = off); the signal becomes
            ``sum_k (decay-k)·x[t-k] / sum_k (decay-k)`` over the finite values among the last ``decay`` days.
        neutralization: one of :data:`NEUTRALIZATIONS`.
        truncation: maximum |weight| of one stock as a fraction of the gross book, in [0, 1]; 0 = off.
        book_size: gross book in dollars (only scales the dollar figures; PnL is reported as a fraction).
        cost_bps: transaction cost in basis points of traded value (1 bps = 1e-4).
        min_stocks: a day whose signal has fewer finite values (inside the universe) than this holds no book.
        max_return: return cleaning (0 = off): a daily return with ``|r| > max_return`` (a fraction,
            0.5 = 50 %) is booked as 0 by every held stock that day, like a NaN return.
        glitch_factor: return cleaning (0 = off, else > 1): a one-day glitch, i.e. a close that moves by
            more than this factor either way (``|log(1 + r[t])| > log(glitch_factor)``) and that the next
            close undoes (``|log((1 + r[t])·(1 + r[t+1]))| < log(1 + glitch_band)``), books 0 on both
            days ``t`` and ``t + 1``.
        glitch_band: how close (a fraction, default 0.05) the next close must come back to the close before
            the jump for ``glitch_factor``; must keep ``1 + glitch_band < glitch_factor``.

    Return cleaning changes only the returns the backtest books (PnL and IC), never the data a signal
    sees; see :mod:`alpha_env.backtest.cleaning`.
    """

    delay: int = 1
    decay: int = 0
    neutralization: str = field(default="market", metadata={"choices": NEUTRALIZATIONS})
    truncation: float = 0.1
    book_size: float = 2e7
    cost_bps: float = 0.0
    min_stocks: int = 2
    max_return: float = 0.0
    glitch_factor: float = 0.0
    glitch_band: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "delay", _check_int("delay", self.delay))
        if self.delay not in (0, 1):
            raise SettingsError(f"delay must be 0 or 1, got {self.delay}")
        object.__setattr__(self, "decay", _check_int("decay", self.decay))
        if self.decay < 0:
            raise SettingsError(f"decay must be >= 0 days, got {self.decay}")
        if not isinstance(self.neutralization, str) or self.neutralization.lower() not in NEUTRALIZATIONS:
            raise SettingsError(
                f"neutralization must be one of {', '.join(NEUTRALIZATIONS)}, got {self.neutralization!r}"
            )
        object.__setattr__(self, "neutralization", self.neutralization.lower())
        _check_float("truncation", self.truncation)
        if not 0.0 <= self.truncation <= 1.0:
            raise SettingsError(f"truncation must be in [0, 1] (0 = off), got {self.truncation}")
        _check_float("book_size", self.book_size)
        if not self.book_size > 0:
            raise SettingsError(f"book_size must be > 0 dollars, got {self.book_size}")
        _check_float("cost_bps", self.cost_bps)
        if self.cost_bps < 0:
            raise SettingsError(f"cost_bps must be >= 0, got {self.cost_bps}")
        object.__setattr__(self, "min_stocks", _check_int("min_stocks", self.min_stocks))
        if self.min_stocks < 2:
            raise SettingsError(f"min_stocks must be >= 2, got {self.min_stocks}")
        object.__setattr__(self, "truncation", float(self.truncation))
        object.__setattr__(self, "book_size", float(self.book_size))
        object.__setattr__(self, "cost_bps", float(self.cost_bps))
        _check_cleaning(self)

    @property
    def lag(self) -> int:
        """Days from the signal day to the holding day: ``delay + 1`` (the book of signal day ``t``
        earns the return of day ``t + delay + 1``)."""
        return self.delay + 1

    @property
    def cleans_returns(self) -> bool:
        """Whether a return-cleaning setting (``max_return``, ``glitch_factor``) is on."""
        return self.max_return > 0.0 or self.glitch_factor > 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the settings (JSON-ready; the key order is the field order). The return-cleaning
        settings appear only when they differ from :data:`RETURN_CLEANING_DEFAULTS`."""
        return drop_cleaning_defaults(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BacktestSettings:
        """Build settings from a dict, rejecting unknown keys by name."""
        return settings_from_dict(cls, data, "backtest")


def settings_from_dict(cls: type[_S], data: dict[str, Any], what: str) -> _S:
    """Build the settings dataclass ``cls`` from ``data``, naming every unknown key (``what`` says which
    kind of setting, for the message)."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise SettingsError(f"unknown {what} setting(s): {', '.join(unknown)}")
    return cls(**data)


def drop_cleaning_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the return-cleaning keys that hold their default (off) value."""
    return {k: v for k, v in data.items()
            if k not in RETURN_CLEANING_DEFAULTS or v != RETURN_CLEANING_DEFAULTS[k]}


def _check_cleaning(s: Any) -> None:
    """Validate and normalise the return-cleaning fields of ``s`` (a frozen settings dataclass)."""
    for name in RETURN_CLEANING_DEFAULTS:
        _check_float(name, getattr(s, name))
        object.__setattr__(s, name, float(getattr(s, name)))
    if s.max_return < 0:
        raise SettingsError(f"max_return must be >= 0 (a fraction; 0 = off), got {s.max_return}")
    if not 0.0 < s.glitch_band < 1.0:
        raise SettingsError(f"glitch_band must be in (0, 1) (a fraction), got {s.glitch_band}")
    if s.glitch_factor != 0.0 and not s.glitch_factor > 1.0 + s.glitch_band:
        raise SettingsError(
            f"glitch_factor must be 0 (off) or > 1 + glitch_band = {1.0 + s.glitch_band:g} "
            f"(a price ratio, e.g. 1.5), got {s.glitch_factor}"
        )


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if math.isfinite(value) and float(value).is_integer():
            return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SettingsError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _check_float(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got {value!r}")
