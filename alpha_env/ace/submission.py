"""Submitting a stored alpha: re-run the checks against the alphas submitted so far, record the outcome."""

from __future__ import annotations

import numpy as np

from alpha_env.ace.checks import CheckResult, CheckThresholds, all_passed, run_checks
from alpha_env.ace.result import SimulationResult
from alpha_env.ace.store import AlphaStore
from alpha_env.errors import StoreError

__all__ = ["recheck", "submit_alpha"]


def recheck(
    store: AlphaStore, result: SimulationResult, thresholds: CheckThresholds | None = None
) -> list[CheckResult]:
    """The submission checks of ``result`` against every alpha submitted to ``store`` (but itself)."""
    th = thresholds if thresholds is not None else CheckThresholds()
    splits = result.splits()
    if th.split not in splits:
        raise StoreError(f"alpha {result.alpha_id} has no {th.split!r} split (splits: {', '.join(splits)})")
    return run_checks(
        result.metrics,
        np.asarray(result.dates, dtype="datetime64[D]"),
        result.pnl,
        splits[th.split],
        store.submitted(exclude=result.alpha_id),
        th,
        result.degenerate_reason,
    )


def submit_alpha(
    store: AlphaStore, alpha_id: str, thresholds: CheckThresholds | None = None
) -> tuple[bool, list[CheckResult], int]:
    """Run the checks on the latest stored simulation of ``alpha_id`` and record the submission.

    Returns ``(passed, checks, submission id)``. Only a passed submission counts in later correlation
    checks.
    """
    result = store.get(alpha_id)
    checks = recheck(store, result, thresholds)
    sub_id = store.submit(alpha_id, checks)
    return all_passed(checks), checks, sub_id
