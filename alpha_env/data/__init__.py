"""Market data for alpha-env: load, validate and align prices, groups and news into a :class:`MarketPanel`.

Entry points: :func:`load_panel` (real files or a dataset folder), :func:`synthetic_market` (the embedded,
seeded default with planted signals), :func:`check_dataset` / :func:`validate_prices` (quality reports),
:class:`DocumentStore` (dated texts with point-in-time access). See ``docs/data.md``.
"""

from alpha_env.data.daily_fields import attach_daily_field, read_daily_field
from alpha_env.data.documents import Document, DocumentStore, load_news
from alpha_env.data.io import read_table
from alpha_env.data.loaders import check_dataset, find_dataset, load_panel, read_groups, read_prices
from alpha_env.data.panel import BASE_FIELDS, MarketPanel
from alpha_env.data.sources import DataSource, resolve_panel
from alpha_env.data.splits import make_splits
from alpha_env.data.synthetic import PLANTED, REGIMES, PlantedSignal, long_short_sharpe, synthetic_market
from alpha_env.data.universe import UniverseSpec, compute_universe
from alpha_env.data.validate import Issue, QualityReport, raise_for_errors, validate_prices

__all__ = [
    "MarketPanel",
    "BASE_FIELDS",
    "load_panel",
    "resolve_panel",
    "DataSource",
    "check_dataset",
    "find_dataset",
    "read_prices",
    "read_groups",
    "read_table",
    "validate_prices",
    "raise_for_errors",
    "Issue",
    "QualityReport",
    "UniverseSpec",
    "compute_universe",
    "make_splits",
    "Document",
    "DocumentStore",
    "load_news",
    "synthetic_market",
    "PlantedSignal",
    "PLANTED",
    "REGIMES",
    "long_short_sharpe",
    "attach_daily_field",
    "read_daily_field",
]
