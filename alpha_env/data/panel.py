"""The immutable :class:`MarketPanel`: every field a ``(T, N)`` float64 array over dates × stocks.

Layout: arrays are time-major ``(T, N)`` and C-contiguous, so one day's cross-section is one contiguous
row and time-series kernels stream rows in order (``docs/data.md`` has the measured comparison with the
``(N, T)`` layout). Every array handed out is read-only (``writeable=False``); missing is ``NaN``.

Derived fields (computed on demand and memoised per panel):

========== ==========================================================================================
name       definition
========== ==========================================================================================
returns    ``close[t] / close[t-1] - 1`` (NaN on the first day and next to a missing close)
vwap       from the file; else ``(high + low + close) / 3``, flagged ``metadata['vwap_approximated']``
adv{d}     mean of ``close * volume`` over the ``d`` days ending today (NaN unless all ``d`` are known)
cap        ``close * shares`` when a ``shares`` field was given
========== ==========================================================================================
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from alpha_env.data.fields import adv_field, returns_field
from alpha_env.data.splits import make_splits
from alpha_env.data.universe import UniverseSpec, compute_universe
from alpha_env.errors import DataError

if TYPE_CHECKING:
    from alpha_env.data.documents import DocumentStore

__all__ = ["MarketPanel", "BASE_FIELDS", "ADV_DEFAULT_WINDOWS", "FIELD_MEMO_ENTRIES", "readonly_float"]

#: The price/volume fields a loader provides, in display order.
BASE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
#: ``adv{d}`` names listed in :attr:`MarketPanel.field_names` (any other ``d`` works too).
ADV_DEFAULT_WINDOWS: tuple[int, ...] = (20,)

#: Derived field arrays (``returns``, ``cap``, ``adv{d}``) a panel keeps, least recently used dropped first.
FIELD_MEMO_ENTRIES = 8

_ADV_RE = re.compile(r"^adv(\d+)$")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_DERIVED = ("returns", "vwap", "cap")
_ALWAYS_GROUP = "market"


def readonly_float(array: Any, shape: tuple[int, ...] | None = None, name: str = "array") -> np.ndarray:
    """Return ``array`` as a C-contiguous, read-only float64 array (a copy unless it already is one).

    Raises:
        DataError: when the shape differs from ``shape``.
    """
    arr = np.asarray(array, dtype=np.float64)
    if shape is not None and arr.shape != shape:
        raise DataError(f"field '{name}' has shape {arr.shape}, expected {shape} (dates x stocks)")
    if not arr.flags.c_contiguous or arr.flags.writeable or arr.base is not None:
        arr = np.array(arr, dtype=np.float64, order="C", copy=True)
    arr.flags.writeable = False
    return arr


def _freeze_codes(codes: Any, n: int, name: str, n_labels: int) -> np.ndarray:
    arr = np.array(codes, dtype=np.int64, copy=True).reshape(-1)
    if arr.shape != (n,):
        raise DataError(f"group '{name}' has {arr.shape[0]} codes for {n} stocks")
    if arr.size and (arr.min() < -1 or arr.max() >= n_labels):
        raise DataError(f"group '{name}' has codes outside [-1, {n_labels - 1}]")
    arr.flags.writeable = False
    return arr


class MarketPanel:
    """Immutable market data: fields ``(T, N)`` float64, dates, tickers, groups, universe, splits.

    Build one with :func:`alpha_env.data.load_panel` or :func:`alpha_env.data.synthetic_market`; the
    constructor is the low-level path (it copies and freezes every array).

    Args:
        dates: ``(T,)`` trading dates, strictly increasing (converted to ``datetime64[D]``).
        tickers: ``(N,)`` unique stock identifiers.
        fields: name → ``(T, N)`` array. Must include ``close``; ``open high low volume`` are expected
            for the usual alphas; ``vwap`` and ``shares`` are optional; any other lower-case name is a
            custom field (e.g. ``news_count``).
        groups: name → ``(codes (N,) int, labels sequence)``; code ``-1`` means unknown. ``market``
            (all zeros) is always added.
        universe: ``(T, N)`` bool, the stocks tradable each day; default: the default
            :class:`~alpha_env.data.universe.UniverseSpec` (a close and >= 20 days of history).
        splits: name → ``slice`` of date indices (``train``/``valid``/``test`` by convention).
        metadata: free-form JSON-like information (copied; read through a read-only view).
        documents: an optional :class:`~alpha_env.data.documents.DocumentStore` aligned to ``dates``.
    """

    __slots__ = (
        "_dates", "_tickers", "_fields", "_groups", "_universe", "_splits", "_metadata", "_documents",
        "_memo", "_frozen",
    )

    def __init__(
        self,
        dates: Any,
        tickers: Iterable[str],
        fields: Mapping[str, Any],
        *,
        groups: Mapping[str, tuple[Any, Iterable[str]]] | None = None,
        universe: Any = None,
        splits: Mapping[str, slice] | None = None,
        metadata: Mapping[str, Any] | None = None,
        documents: DocumentStore | None = None,
    ) -> None:
        d = np.array(dates, dtype="datetime64[D]").reshape(-1)
        if d.size == 0:
            raise DataError("a panel needs at least one date")
        if d.size > 1 and not np.all(d[1:] > d[:-1]):
            raise DataError("panel dates must be strictly increasing")
        d.flags.writeable = False
        t = np.array([str(x) for x in tickers], dtype=str)
        if t.size == 0:
            raise DataError("a panel needs at least one ticker")
        if np.unique(t).size != t.size:
            raise DataError("panel tickers must be unique")
        t.flags.writeable = False
        shape = (d.size, t.size)
        if "close" not in fields:
            raise DataError("a panel needs a 'close' field")
        frozen: dict[str, np.ndarray] = {}
        for name, arr in fields.items():
            if not _NAME_RE.match(name) or _ADV_RE.match(name) or name in ("returns", "cap"):
                raise DataError(f"invalid or reserved field name '{name}'")
            frozen[name] = readonly_float(arr, shape, name)
        meta = dict(metadata or {})
        if "vwap" not in frozen and all(k in frozen for k in ("high", "low", "close")):
            frozen["vwap"] = readonly_float((frozen["high"] + frozen["low"] + frozen["close"]) / 3.0)
            meta["vwap_approximated"] = True
        else:
            meta.setdefault("vwap_approximated", False)
        grp: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {
            _ALWAYS_GROUP: (_freeze_codes(np.zeros(t.size), t.size, _ALWAYS_GROUP, 1), (_ALWAYS_GROUP,))
        }
        for name, (codes, labels) in (groups or {}).items():
            key = name.lower()
            if key == _ALWAYS_GROUP:
                continue
            labs = tuple(str(x) for x in labels)
            grp[key] = (_freeze_codes(codes, t.size, key, len(labs)), labs)
        if universe is None:
            spec = UniverseSpec()
            uni = compute_universe(frozen["close"], frozen.get("volume"), spec)
            meta.setdefault("universe", spec.to_dict())
        else:
            uni = np.array(universe, dtype=bool)
            if uni.shape != shape:
                raise DataError(f"universe has shape {uni.shape}, expected {shape}")
            uni = np.ascontiguousarray(uni) & np.isfinite(frozen["close"])
        uni.flags.writeable = False
        if splits is None:
            splits = make_splits(d)
        for name, s in splits.items():
            if not isinstance(s, slice):
                raise DataError(f"split '{name}' must be a slice of date indices, got {type(s).__name__}")
        if documents is not None and not documents.is_aligned_to(d):
            documents = documents.aligned(d)
        setter = object.__setattr__
        setter(self, "_dates", d)
        setter(self, "_tickers", t)
        setter(self, "_fields", frozen)
        setter(self, "_groups", grp)
        setter(self, "_universe", uni)
        setter(self, "_splits", MappingProxyType(dict(splits)))
        setter(self, "_metadata", MappingProxyType(meta))
        setter(self, "_documents", documents)
        setter(self, "_memo", OrderedDict())
        setter(self, "_frozen", True)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("MarketPanel is immutable; use with_fields/with_universe/with_splits")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("MarketPanel is immutable")

    def __getstate__(self) -> dict[str, Any]:
        """Picklable state (vector environments send panels to worker processes); drops the memo."""
        return {
            "_dates": self._dates, "_tickers": self._tickers, "_fields": self._fields,
            "_groups": self._groups, "_universe": self._universe, "_splits": dict(self._splits),
            "_metadata": dict(self._metadata), "_documents": self._documents,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        setter = object.__setattr__
        for key in ("_dates", "_tickers", "_universe"):
            arr = state[key]
            arr.flags.writeable = False
            setter(self, key, arr)
        for arr in state["_fields"].values():
            arr.flags.writeable = False
        for codes, _labels in state["_groups"].values():
            codes.flags.writeable = False
        setter(self, "_fields", state["_fields"])
        setter(self, "_groups", state["_groups"])
        setter(self, "_splits", MappingProxyType(state["_splits"]))
        setter(self, "_metadata", MappingProxyType(state["_metadata"]))
        setter(self, "_documents", state["_documents"])
        setter(self, "_memo", OrderedDict())
        setter(self, "_frozen", True)

    def __repr__(self) -> str:
        return (
            f"MarketPanel({self.n_dates} dates {self._dates[0]}..{self._dates[-1]} x {self.n_stocks} stocks, "
            f"fields={list(self.field_names)}, groups={list(self.group_names)})"
        )

    # -- shape -----------------------------------------------------------------------------------------
    @property
    def dates(self) -> np.ndarray:
        """``(T,)`` ``datetime64[D]`` trading dates (read-only)."""
        return self._dates

    @property
    def tickers(self) -> np.ndarray:
        """``(N,)`` ticker strings (read-only)."""
        return self._tickers

    @property
    def n_dates(self) -> int:
        """T, the number of trading dates."""
        return int(self._dates.size)

    @property
    def n_stocks(self) -> int:
        """N, the number of stocks."""
        return int(self._tickers.size)

    @property
    def shape(self) -> tuple[int, int]:
        """``(T, N)``."""
        return (self.n_dates, self.n_stocks)

    # -- fields ----------------------------------------------------------------------------------------
    @property
    def field_names(self) -> tuple[str, ...]:
        """Every field name :meth:`field` accepts, except that any ``adv{d}`` works (``adv20`` listed)."""
        stored = self._fields
        names = [f for f in BASE_FIELDS if f in stored]
        if "vwap" in stored:
            names.append("vwap")
        names.append("returns")
        if "close" in stored and "volume" in stored:
            names.extend(f"adv{d}" for d in ADV_DEFAULT_WINDOWS)
        if "shares" in stored:
            names.append("cap")
        names.extend(f for f in stored if f not in names)
        return tuple(names)

    @property
    def custom_field_names(self) -> tuple[str, ...]:
        """Stored fields beyond OHLCV and vwap (e.g. ``shares``, ``news_count``)."""
        return tuple(f for f in self._fields if f not in BASE_FIELDS and f != "vwap")

    def has_field(self, name: str) -> bool:
        """Whether :meth:`field` can produce ``name`` (``adv{d}`` for any ``d >= 1`` counts; a ``d`` longer
        than the panel is still an ``adv`` field, which :meth:`field` then rejects)."""
        if name in self._fields or name == "returns":
            return True
        if name == "cap":
            return "shares" in self._fields
        m = _ADV_RE.match(name)
        return bool(m) and m.group(1).strip("0") != "" and "volume" in self._fields

    def field(self, name: str) -> np.ndarray:
        """The ``(T, N)`` float64 read-only array of field ``name`` (see the module table).

        Derived fields are memoised, at most :data:`FIELD_MEMO_ENTRIES` of them (least recently used
        dropped first), so a long run reading many ``adv{d}`` keeps bounded memory.

        Raises:
            DataError: unknown field (the message lists the available ones), or an ``adv{d}`` whose ``d``
                is longer than the panel (``T`` dates).
        """
        arr = self._fields.get(name)
        if arr is not None:
            return arr
        memo = self._memo
        cached = memo.get(("field", name))
        if cached is not None:
            memo.move_to_end(("field", name))
            return cached
        if not self.has_field(name):
            raise DataError(f"unknown field '{name}'; this panel has {', '.join(self.field_names)}")
        if name == "returns":
            out = returns_field(self._fields["close"])
        elif name == "cap":
            out = self._fields["close"] * self._fields["shares"]
        else:
            digits = name[3:].lstrip("0")
            if len(digits) > len(str(self.n_dates)) or int(digits) > self.n_dates:
                shown = f"{digits} days" if len(digits) <= 12 else f"a {len(digits):,}-digit number of days"
                raise DataError(f"field '{name[:24]}{'...' if len(name) > 24 else ''}': a window of {shown} "
                                f"is longer than the panel ({self.n_dates} dates)")
            out = adv_field(self._fields["close"], self._fields["volume"], int(digits))
        out = readonly_float(out)
        memo[("field", name)] = out
        fields = [k for k in memo if isinstance(k, tuple)]
        for key in fields[: max(0, len(fields) - FIELD_MEMO_ENTRIES)]:
            del memo[key]
        return out

    # -- groups ----------------------------------------------------------------------------------------
    @property
    def group_names(self) -> tuple[str, ...]:
        """Group names; ``market`` first, then e.g. ``sector industry subindustry``."""
        return tuple(self._groups)

    def group(self, name: str) -> np.ndarray:
        """``(N,)`` int64 codes of group ``name`` (``-1`` = unknown), read-only."""
        try:
            return self._groups[name.lower()][0]
        except KeyError:
            raise DataError(
                f"unknown group '{name}'; this panel has {', '.join(self._groups)}"
            ) from None

    def group_labels(self, name: str) -> tuple[str, ...]:
        """Labels of group ``name``: ``labels[code]`` is the name of a code."""
        self.group(name)
        return self._groups[name.lower()][1]

    # -- universe, splits, metadata --------------------------------------------------------------------
    @property
    def universe(self) -> np.ndarray:
        """``(T, N)`` bool, read-only: the stocks tradable on each date (always False where close is NaN)."""
        return self._universe

    @property
    def splits(self) -> Mapping[str, slice]:
        """Read-only mapping split name → ``slice`` of date indices."""
        return self._splits

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Read-only view of the panel's metadata (source, planted signals, options...)."""
        return self._metadata

    @property
    def documents(self) -> DocumentStore | None:
        """The :class:`DocumentStore` aligned to :attr:`dates`, or ``None``."""
        return self._documents

    def split_dates(self, name: str) -> tuple[np.datetime64, np.datetime64]:
        """First and last date of split ``name``."""
        s = self._splits[name]
        d = self._dates[s]
        if d.size == 0:
            raise DataError(f"split '{name}' is empty")
        return d[0], d[-1]

    @property
    def dataset_id(self) -> str:
        """Content hash (16 hex digits) of dates, tickers, stored fields, groups, universe and splits."""
        cached = self._memo.get("dataset_id")
        if cached is None:
            h = hashlib.blake2b(digest_size=8)
            h.update(self._dates.astype("int64").tobytes())
            h.update("\x1f".join(self._tickers.tolist()).encode())
            for name in sorted(self._fields):
                h.update(name.encode())
                h.update(self._fields[name].tobytes())
            for name in sorted(self._groups):
                codes, labels = self._groups[name]
                h.update(name.encode())
                h.update(codes.tobytes())
                h.update("\x1f".join(labels).encode())
            h.update(np.packbits(self._universe).tobytes())
            for name, s in sorted(self._splits.items()):
                h.update(f"{name}:{s.start}:{s.stop}:{s.step}".encode())
            cached = h.hexdigest()
            self._memo["dataset_id"] = cached
        return cached

    # -- copies with changes ---------------------------------------------------------------------------
    def _replace(self, **changes: Any) -> MarketPanel:
        kw: dict[str, Any] = {
            "groups": {k: v for k, v in self._groups.items() if k != _ALWAYS_GROUP},
            "universe": self._universe,
            "splits": dict(self._splits),
            "metadata": dict(self._metadata),
            "documents": self._documents,
        }
        fields = changes.pop("fields", self._fields)
        kw.update(changes)
        return MarketPanel(self._dates, self._tickers, fields, **kw)

    def with_fields(self, new_fields: Mapping[str, Any]) -> MarketPanel:
        """A new panel with extra (or replaced custom) fields, each ``(T, N)``.

        Raises:
            DataError: wrong shape, reserved name (``returns``, ``cap``, ``adv{d}``) or a base field.
        """
        fields = dict(self._fields)
        for name, arr in new_fields.items():
            if name in BASE_FIELDS:
                raise DataError(f"cannot replace base field '{name}' with with_fields")
            fields[name] = readonly_float(arr, self.shape, name)
        return self._replace(fields=fields)

    def with_universe(self, universe: Any) -> MarketPanel:
        """A new panel with another universe: a ``(T, N)`` bool array or a :class:`UniverseSpec`."""
        if isinstance(universe, UniverseSpec | Mapping):
            spec = UniverseSpec.coerce(universe)
            mask = compute_universe(self._fields["close"], self._fields.get("volume"), spec)
            meta = dict(self._metadata)
            meta["universe"] = spec.to_dict()
            return self._replace(universe=mask, metadata=meta)
        return self._replace(universe=universe)

    def with_splits(self, spec: Any) -> MarketPanel:
        """A new panel with splits from :func:`alpha_env.data.splits.make_splits` ``spec``."""
        return self._replace(splits=make_splits(self._dates, spec))

    def with_documents(self, documents: DocumentStore | None) -> MarketPanel:
        """A new panel carrying ``documents`` (aligned to this panel's dates)."""
        return self._replace(documents=documents)

    def with_metadata(self, **entries: Any) -> MarketPanel:
        """A new panel whose metadata has ``entries`` added or replaced."""
        meta = dict(self._metadata)
        meta.update(entries)
        return self._replace(metadata=meta)

    def date_index(self, date: Any) -> int:
        """Index of ``date`` in :attr:`dates` (exact match).

        Raises:
            DataError: the date is not a trading date of the panel.
        """
        d = np.datetime64(date, "D")
        i = int(np.searchsorted(self._dates, d))
        if i >= self._dates.size or self._dates[i] != d:
            raise DataError(f"{d} is not a trading date of this panel")
        return i
