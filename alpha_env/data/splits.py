"""Named date splits (``train`` / ``valid`` / ``test``) as slices of date indices.

Accepted specifications (:func:`make_splits`):

=============================================  ===========================================================
spec                                           meaning
=============================================  ===========================================================
``None``                                       60 / 20 / 20 % of the dates, in date order
``{"train": 0.7, "valid": 0.15, "test": 0.15}``  fractions (must sum to 1), in the order given
``{"valid": "2016-01-01", "test": "2017-01-01"}``  start dates; the first split named ``train`` (if not
                                               given) starts at the first date; each runs to the next
``{"train": ["2013-02-08", "2015-12-31"], ...}`` inclusive ``[start, end]`` date pairs
=============================================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alpha_env.errors import DataError

__all__ = ["make_splits", "DEFAULT_FRACTIONS"]

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.6, "valid": 0.2, "test": 0.2}


def _to_day(value: Any, name: str) -> np.datetime64:
    try:
        return np.datetime64(str(value)[:10], "D")
    except ValueError:
        raise DataError(f"split '{name}': cannot parse date {value!r}") from None


def make_splits(dates: np.ndarray, spec: Mapping[str, Any] | None = None) -> dict[str, slice]:
    """Turn a split specification into ``{name: slice(start, stop)}`` over ``dates`` (``(T,)`` sorted).

    Raises:
        DataError: fractions not summing to 1, unparsable dates, overlapping or empty splits (so a file
            of 1 to 3 dates cannot be split 60/20/20 and is rejected).
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    t = int(dates.size)
    spec = DEFAULT_FRACTIONS if spec is None else dict(spec)
    if not spec:
        raise DataError("empty split specification")
    values = list(spec.values())
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        fr = np.array(values, dtype=float)
        if np.any(fr < 0) or abs(fr.sum() - 1.0) > 1e-6:
            raise DataError(f"split fractions must be >= 0 and sum to 1, got {dict(spec)}")
        bounds = np.round(np.concatenate([[0.0], np.cumsum(fr)]) * t).astype(int)
        bounds[-1] = t
        out: dict[str, slice] = {
            name: slice(int(bounds[i]), int(bounds[i + 1])) for i, name in enumerate(spec)
        }
        for name, s in out.items():
            if s.stop <= s.start:
                raise DataError(f"split '{name}' contains no trading date: {t} date(s) split "
                                f"{dict(spec)} give {[sl.stop - sl.start for sl in out.values()]} dates")
        return out
    out = {}
    if all(isinstance(v, Sequence) and not isinstance(v, str) for v in values):
        for name, pair in spec.items():
            if len(pair) != 2:
                raise DataError(f"split '{name}' needs [start, end], got {pair!r}")
            lo, hi = _to_day(pair[0], name), _to_day(pair[1], name)
            if hi < lo:
                raise DataError(f"split '{name}' ends ({hi}) before it starts ({lo})")
            lo_i, hi_i = np.searchsorted(dates, lo, "left"), np.searchsorted(dates, hi, "right")
            out[name] = slice(int(lo_i), int(hi_i))
    else:
        starts = {name: _to_day(v, name) for name, v in spec.items()}
        if "train" not in starts:
            starts = {"train": dates[0], **starts}
        names = sorted(starts, key=lambda k: starts[k])
        idx = [int(np.searchsorted(dates, starts[n], "left")) for n in names] + [t]
        out = {n: slice(idx[i], idx[i + 1]) for i, n in enumerate(names)}
    ordered = sorted(out.items(), key=lambda kv: kv[1].start)
    for (n1, s1), (n2, s2) in zip(ordered, ordered[1:]):
        if s2.start < s1.stop:
            raise DataError(f"splits '{n1}' and '{n2}' overlap")
    for name, s in out.items():
        if s.stop <= s.start:
            raise DataError(f"split '{name}' contains no trading date")
    return out
