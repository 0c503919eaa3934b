"""Simulation settings: the backtest settings plus the universe options of a simulation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from alpha_env.backtest.settings import (
    BacktestSettings,
    _check_float,
    _check_int,
    drop_cleaning_defaults,
    settings_from_dict,
)
from alpha_env.errors import SettingsError

__all__ = ["SimulationSettings"]


@dataclass(frozen=True)
class SimulationSettings:
    """Everything that decides the outcome of a simulation (part of the alpha id).

    Backtest fields (see :class:`~alpha_env.backtest.BacktestSettings`): ``delay``, ``decay``,
    ``neutralization``, ``truncation``, ``book_size``, ``cost_bps``, ``min_stocks``, and the return
    cleaning ``max_return``, ``glitch_factor``, ``glitch_band`` (off by default; a data-cleaning step on
    the returns the backtest books, never on what the signal sees: :mod:`alpha_env.backtest.cleaning`).
    The cleaning settings enter :meth:`to_dict` (and so the alpha id) only when switched on.

    Universe options (applied on top of the panel's own universe, each with data known on the day):
        min_price: a stock is tradable on day t only if its close of day t is at least this (dollars).
        top_n: keep only the ``top_n`` stocks of the panel's universe with the highest
            ``adv{adv_window}`` (mean dollar volume of the last ``adv_window`` days, known on day t);
            ``None`` keeps all (the ranking is :func:`alpha_env.data.compute_universe`'s).
        adv_window: days of that mean.
    """

    delay: int = 1
    decay: int = 0
    neutralization: str = "market"
    truncation: float = 0.1
    book_size: float = 2e7
    cost_bps: float = 0.0
    min_stocks: int = 2
    max_return: float = 0.0
    glitch_factor: float = 0.0
    glitch_band: float = 0.05
    min_price: float = 0.0
    top_n: int | None = None
    adv_window: int = 20

    def __post_init__(self) -> None:
        bt = self.backtest()  # validates and normalises the backtest part
        for f in fields(BacktestSettings):
            object.__setattr__(self, f.name, getattr(bt, f.name))
        _check_float("min_price", self.min_price)
        if self.min_price < 0:
            raise SettingsError(f"min_price must be >= 0 dollars, got {self.min_price}")
        object.__setattr__(self, "min_price", float(self.min_price))
        if self.top_n is not None:
            object.__setattr__(self, "top_n", _check_int("top_n", self.top_n))
            if self.top_n < 1:
                raise SettingsError(f"top_n must be >= 1 stocks (or None for all), got {self.top_n}")
        object.__setattr__(self, "adv_window", _check_int("adv_window", self.adv_window))
        if self.adv_window < 1:
            raise SettingsError(f"adv_window must be >= 1 day, got {self.adv_window}")

    def backtest(self) -> BacktestSettings:
        """The :class:`BacktestSettings` part."""
        return BacktestSettings(**{f.name: getattr(self, f.name) for f in fields(BacktestSettings)})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (field order; return-cleaning keys only when they are not at their
        defaults, see :data:`~alpha_env.backtest.settings.RETURN_CLEANING_DEFAULTS`)."""
        return drop_cleaning_defaults(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationSettings:
        """Build from a dict, rejecting unknown keys by name."""
        return settings_from_dict(cls, data, "simulation")
