"""Simulation settings: the backtest settings (nested, not copied) plus the universe options."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from alpha_env.backtest.settings import (
    BacktestSettings,
    _check_float,
    _check_int,
    settings_from_dict,
)
from alpha_env.errors import SettingsError

__all__ = ["SimulationSettings", "BACKTEST_FIELDS"]

#: Names of the backtest settings, readable on a :class:`SimulationSettings` as attributes.
BACKTEST_FIELDS: frozenset[str] = frozenset(f.name for f in fields(BacktestSettings))


@dataclass(frozen=True, init=False)
class SimulationSettings:
    """Everything that decides the outcome of a simulation (part of the alpha id).

    The backtest settings are one nested :class:`~alpha_env.backtest.BacktestSettings` (``backtest``),
    declared and validated there only. For convenience they can be given flat and read flat:
    ``SimulationSettings(delay=0, neutralization="sector").delay`` is ``settings.backtest.delay``, and
    ``dataclasses.replace(settings, cost_bps=5)`` replaces inside the nested settings.

    Attributes:
        backtest: delay, decay, neutralization, truncation, book size, costs, return cleaning (see
            :class:`~alpha_env.backtest.BacktestSettings`).
        min_price: a stock is tradable on day t only if its close of day t is at least this (dollars).
        top_n: keep only the top_n stocks of the panel's universe with the highest adv{adv_window}
            (mean dollar volume of the last adv_window days, known on day t); none keeps all.
        adv_window: days of the mean dollar volume that ranks stocks for top_n.

    :meth:`to_dict` (the id's settings) is flat: the backtest fields, then ``min_price``, ``top_n``,
    ``adv_window``, exactly as before the nesting, so every stored alpha id still holds.
    """

    backtest: BacktestSettings
    min_price: float
    top_n: int | None
    adv_window: int

    def __init__(self, backtest: BacktestSettings | None = None, *, min_price: float = 0.0,
                 top_n: int | None = None, adv_window: int = 20, **backtest_fields: Any) -> None:
        unknown = sorted(set(backtest_fields) - BACKTEST_FIELDS)
        if unknown:
            raise SettingsError(f"unknown simulation setting(s): {', '.join(unknown)}")
        if backtest is None:
            backtest = BacktestSettings(**backtest_fields)
        elif not isinstance(backtest, BacktestSettings):
            raise SettingsError(f"backtest must be BacktestSettings, got {type(backtest).__name__}")
        elif backtest_fields:
            backtest = dataclasses.replace(backtest, **backtest_fields)
        object.__setattr__(self, "backtest", backtest)
        _check_float("min_price", min_price)
        if min_price < 0:
            raise SettingsError(f"min_price must be >= 0 dollars, got {min_price}")
        object.__setattr__(self, "min_price", float(min_price))
        if top_n is not None:
            top_n = _check_int("top_n", top_n)
            if top_n < 1:
                raise SettingsError(f"top_n must be >= 1 stocks (or None for all), got {top_n}")
        object.__setattr__(self, "top_n", top_n)
        adv_window = _check_int("adv_window", adv_window)
        if adv_window < 1:
            raise SettingsError(f"adv_window must be >= 1 day, got {adv_window}")
        object.__setattr__(self, "adv_window", adv_window)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: the flat view of the nested backtest settings
        if name in BACKTEST_FIELDS:
            return getattr(self.backtest, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain, flat JSON-ready dict: the backtest's :meth:`~BacktestSettings.to_dict` (return-cleaning
        keys only when switched on), then ``min_price``, ``top_n``, ``adv_window``."""
        return {**self.backtest.to_dict(), "min_price": self.min_price, "top_n": self.top_n,
                "adv_window": self.adv_window}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationSettings:
        """Build from a flat dict (as :meth:`to_dict` writes it), rejecting unknown keys by name."""
        data = dict(data)
        if isinstance(data.get("backtest"), dict):
            data["backtest"] = settings_from_dict(BacktestSettings, data["backtest"], "backtest")
        return cls(**data)
