"""Where a market comes from: the one reading of a ``data`` argument (the env ids' ``data=``, the CLI's
``--data``/``PATH``, the experiments' ``--data``).

``data`` may be a :class:`~alpha_env.data.MarketPanel` (used as is), a path to a dataset folder or price
file (read with :func:`alpha_env.data.load_panel`), ``"synthetic"`` or ``"synthetic:SEED"`` (the embedded
market; a file or folder of that name wins), a mapping of :func:`alpha_env.data.synthetic_market`
arguments (e.g. ``{"seed": 0, "n_stocks": 30, "n_days": 300}``) or ``None`` (the default synthetic
market, seed 0). Paths and mappings pickle, so they are the forms to use with subprocess vector envs:
each worker then builds its own panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alpha_env.data.loaders import load_panel
from alpha_env.data.panel import MarketPanel
from alpha_env.data.synthetic import synthetic_market
from alpha_env.errors import DataError, SettingsError

__all__ = ["DataSource", "resolve_panel", "synthetic_seed"]

DataSource = Any  # MarketPanel | str | os.PathLike | Mapping[str, Any] | None


def resolve_panel(data: DataSource = None, **load_options: Any) -> Any:
    """The :class:`~alpha_env.data.MarketPanel` that ``data`` names (see the module doc).

    Args:
        data: a panel, a dataset path, a mapping of ``synthetic_market`` arguments, or ``None``.
        load_options: extra keyword arguments of :func:`~alpha_env.data.load_panel` (paths only).

    Raises:
        SettingsError: ``data`` has another type, or options were given for a non-path source.
        DataError: the dataset cannot be read (from the loader).
    """
    if isinstance(data, MarketPanel):
        _no_options(load_options, "a MarketPanel")
        return data
    if data is None:
        _no_options(load_options, "the default synthetic market")
        return synthetic_market(seed=0)
    if isinstance(data, Mapping):
        _no_options(load_options, "a synthetic-market mapping")
        try:
            return synthetic_market(**dict(data))
        except TypeError as exc:
            raise SettingsError(f"data: bad synthetic_market arguments {dict(data)!r}: {exc}") from None
    seed = synthetic_seed(data) if isinstance(data, str) else None
    if seed is not None:
        _no_options(load_options, "the synthetic market")
        return synthetic_market(seed=seed)
    if isinstance(data, str | Path):
        return load_panel(Path(data), **load_options)
    raise SettingsError(
        "data must be a MarketPanel, a dataset path, a mapping of synthetic_market arguments or None, "
        f"not {type(data).__name__}"
    )


def synthetic_seed(path: str) -> int | None:
    """The seed when ``path`` names the synthetic market (``synthetic`` or ``synthetic:SEED``, and no file
    or folder of that name exists), else ``None``.

    Raises:
        DataError: ``synthetic:X`` with a seed that is not an integer.
    """
    if Path(path).exists() or not (path == "synthetic" or path.startswith("synthetic:")):
        return None
    seed_text = path.partition(":")[2] or "0"
    try:
        return int(seed_text)
    except ValueError:
        raise DataError(f"synthetic seed must be an integer, got {seed_text!r}") from None


def _no_options(options: Mapping[str, Any], what: str) -> None:
    if options:
        raise SettingsError(f"loader options {sorted(options)} only apply to a dataset path, not to {what}")
