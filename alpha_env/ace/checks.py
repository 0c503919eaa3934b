"""Submission checks: is an alpha good enough, and different enough from those already submitted?

Every check reports its value, its threshold, whether it passed and a one-line detail. The checks read
the metrics of one split, ``train`` (in-sample) by default, so that submitting never looks at the
validation or test periods; :class:`CheckThresholds` ``split`` changes it.

| check            | passes when (on the check split)                                                 |
|------------------|----------------------------------------------------------------------------------|
| `not_degenerate` | the backtest holds a book on some day                                            |
| `sharpe`         | `sharpe >= 1.25`                                                                 |
| `fitness`        | `fitness >= 1.0`                                                                 |
| `turnover`       | `0.01 <= turnover <= 0.70` (mean daily fraction of book)                        |
| `max_weight`     | `max_weight <= 0.10` (largest |weight| of a held book)                           |
| `correlation`    | the Pearson correlation of daily PnL with every submitted alpha is `<= 0.7`      |
|                  | (over the common dates of the split; at least `min_overlap` of them)             |
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from alpha_env.backtest.settings import _check_float, _check_int
from alpha_env.errors import SettingsError

__all__ = ["CheckThresholds", "CheckResult", "run_checks", "pnl_correlation", "all_passed"]


@dataclass(frozen=True)
class CheckThresholds:
    """Thresholds of the submission checks (defaults from common practice)."""

    sharpe: float = 1.25
    fitness: float = 1.0
    turnover_min: float = 0.01
    turnover_max: float = 0.70
    max_weight: float = 0.10
    max_correlation: float = 0.7
    split: str = "train"
    min_overlap: int = 60

    def __post_init__(self) -> None:
        for name in ("sharpe", "fitness", "turnover_min", "turnover_max", "max_weight", "max_correlation"):
            _check_float(name, getattr(self, name))
        if not 0 <= self.turnover_min <= self.turnover_max:
            raise SettingsError(
                f"turnover band must satisfy 0 <= turnover_min <= turnover_max, got "
                f"[{self.turnover_min}, {self.turnover_max}]"
            )
        if not -1.0 <= self.max_correlation <= 1.0:
            raise SettingsError(f"max_correlation must be in [-1, 1], got {self.max_correlation}")
        object.__setattr__(self, "min_overlap", _check_int("min_overlap", self.min_overlap))
        if self.min_overlap < 2:
            raise SettingsError(f"min_overlap must be >= 2 days, got {self.min_overlap}")


@dataclass(frozen=True)
class CheckResult:
    """One check: ``value`` compared with ``threshold`` (a number, or ``[low, high]`` for a band)."""

    name: str
    value: float | None
    threshold: float | tuple[float, float] | None
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (a band threshold becomes a 2-list; NaN values become ``None``)."""
        d = asdict(self)
        if isinstance(self.threshold, tuple):
            d["threshold"] = list(self.threshold)
        if d["value"] is not None and not math.isfinite(d["value"]):
            d["value"] = None
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Inverse of :meth:`to_dict`."""
        thr = data.get("threshold")
        return cls(
            name=str(data["name"]),
            value=None if data.get("value") is None else float(data["value"]),
            threshold=tuple(thr) if isinstance(thr, list) else thr,  # type: ignore[arg-type]
            passed=bool(data["passed"]),
            detail=str(data.get("detail", "")),
        )


def all_passed(checks: list[CheckResult]) -> bool:
    """True when every check passed (and there is at least one)."""
    return bool(checks) and all(c.passed for c in checks)


def pnl_correlation(
    dates_a: np.ndarray, pnl_a: np.ndarray, dates_b: np.ndarray, pnl_b: np.ndarray, min_overlap: int
) -> tuple[float, int]:
    """Pearson correlation of two daily PnL series on their common dates.

    Returns ``(correlation, common days)``; the correlation is NaN with fewer than ``min_overlap``
    common days and 0.0 when either series is flat there.
    """
    common, ia, ib = np.intersect1d(
        np.asarray(dates_a, dtype="datetime64[D]"),
        np.asarray(dates_b, dtype="datetime64[D]"),
        assume_unique=True,
        return_indices=True,
    )
    n = int(common.shape[0])
    if n < min_overlap:
        return float("nan"), n
    a = np.asarray(pnl_a, dtype=np.float64)[ia]
    b = np.asarray(pnl_b, dtype=np.float64)[ib]
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return (float(a @ b) / den if den > 0 else 0.0), n


def run_checks(
    metrics: Mapping[str, Mapping[str, float]],
    dates: np.ndarray,
    pnl: np.ndarray,
    window: slice,
    submitted: Mapping[str, tuple[np.ndarray, np.ndarray]],
    thresholds: CheckThresholds | None = None,
    degenerate_reason: str | None = None,
) -> list[CheckResult]:
    """Run every submission check.

    Args:
        metrics: metrics per split (``split_metrics`` output); ``thresholds.split`` is read.
        dates, pnl: ``(T,)`` dates and daily PnL of the alpha.
        window: the check split as a date-index slice (for the correlation check).
        submitted: ``alpha_id -> (dates, pnl)`` of the alphas already submitted (without this one).
        thresholds: :class:`CheckThresholds` (defaults when ``None``).
        degenerate_reason: the backtest's reason, if the signal is degenerate.
    """
    th = thresholds if thresholds is not None else CheckThresholds()
    if th.split not in metrics:
        raise SettingsError(f"check split {th.split!r} is not one of {', '.join(metrics)}")
    m = metrics[th.split]
    where = f"on {th.split}"
    out = [
        CheckResult(
            "not_degenerate",
            None,
            None,
            degenerate_reason is None,
            "the signal holds a book" if degenerate_reason is None else degenerate_reason,
        ),
        _at_least("sharpe", m["sharpe"], th.sharpe, where),
        _at_least("fitness", m["fitness"], th.fitness, where),
    ]
    tv = m["turnover"]
    out.append(
        CheckResult(
            "turnover",
            tv,
            (th.turnover_min, th.turnover_max),
            th.turnover_min <= tv <= th.turnover_max,
            f"mean daily turnover {tv:.2%} {where}, band [{th.turnover_min:.0%}, {th.turnover_max:.0%}]",
        )
    )
    mw = m["max_weight"]
    out.append(
        CheckResult(
            "max_weight",
            mw,
            th.max_weight,
            mw <= th.max_weight + 1e-12,
            f"largest |weight| {mw:.2%} of the book {where} (max {th.max_weight:.0%})",
        )
    )
    out.append(_correlation_check(dates[window], pnl[window], submitted, th))
    return out


def _at_least(name: str, value: float, threshold: float, where: str) -> CheckResult:
    ok = value >= threshold
    sign = ">=" if ok else "<"
    return CheckResult(name, value, threshold, ok, f"{name} {value:.3f} {where} ({sign} {threshold})")


def _correlation_check(
    dates: np.ndarray,
    pnl: np.ndarray,
    submitted: Mapping[str, tuple[np.ndarray, np.ndarray]],
    th: CheckThresholds,
) -> CheckResult:
    worst = -math.inf
    worst_id = None
    compared = 0
    for other_id, (odates, opnl) in submitted.items():
        corr, _ = pnl_correlation(dates, pnl, odates, opnl, th.min_overlap)
        if math.isnan(corr):
            continue
        compared += 1
        if corr > worst:
            worst, worst_id = corr, other_id
    if compared == 0:
        detail = (
            "no submitted alpha to compare with"
            if not submitted
            else f"no submitted alpha shares {th.min_overlap} dates of {th.split}"
        )
        return CheckResult("correlation", None, th.max_correlation, True, detail)
    ok = worst <= th.max_correlation
    return CheckResult(
        "correlation",
        worst,
        th.max_correlation,
        ok,
        f"max PnL correlation {worst:.3f} with {worst_id} among {compared} submitted alpha(s) on {th.split}",
    )
