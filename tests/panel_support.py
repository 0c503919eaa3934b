"""Test helpers for market panels (not a test module)."""

from __future__ import annotations

import numpy as np

from alpha_env.data import MarketPanel

__all__ = ["scramble_after"]


def scramble_after(panel: MarketPanel, stop: int, seed: int) -> MarketPanel:
    """A copy of ``panel`` whose prices and volumes from row ``stop`` on are randomly perturbed (rows before
    ``stop`` unchanged): anything computed from rows ``< stop`` only must not change."""
    noise = np.exp(np.random.default_rng(seed).normal(0, 0.2, size=panel.shape))
    noise[:stop] = 1.0
    fields = {name: panel.field(name) * noise for name in ("open", "high", "low", "close", "vwap")}
    fields["volume"] = panel.field("volume") * noise[::-1]
    fields["volume"][:stop] = panel.field("volume")[:stop]
    groups = {g: (panel.group(g), panel.group_labels(g)) for g in panel.group_names if g != "market"}
    other = MarketPanel(panel.dates, panel.tickers, fields, groups=groups, universe=panel.universe,
                        splits=dict(panel.splits))
    assert not np.allclose(other.field("returns")[stop:], panel.field("returns")[stop:], equal_nan=True)
    return other
