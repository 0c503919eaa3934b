"""Settings of an :class:`~alpha_env.pool.pool.AlphaPool`, declared once and validated once."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alpha_env.errors import SettingsError
from alpha_env.pool.targets import check_horizon

__all__ = ["PoolSettings", "MODELS", "RULES", "REPLACE_BY", "OBJECTIVES", "Objective"]

#: Combination models by name.
MODELS: tuple[str, ...] = ("lstsq", "ridge", "ic_weighted", "rolling", "conditional")
#: Admission rules: this project's (``"pool"``) and AlphaGen's (``"alphagen"``).
RULES: tuple[str, ...] = ("pool", "alphagen")
#: What makes a correlated candidate "better" than the members it would replace.
REPLACE_BY: tuple[str, ...] = ("objective", "ic")

#: A pool objective: ``"ic"``, ``"sharpe"`` or a callable of the combined ``(T, N)`` signal returning a float.
Objective = str | Callable[[np.ndarray], float]
#: Objectives by name.
OBJECTIVES: tuple[str, ...] = ("ic", "sharpe")

_DEFAULT_MAX_CORR = {"pool": 0.7, "alphagen": 0.99}


def _int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < low:
        raise SettingsError(f"pool setting {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"pool setting {name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


@dataclass(frozen=True)
class PoolSettings:
    """How an alpha pool combines and admits its members.

    Attributes:
        capacity: most members K (20).
        model: combination model, one of :data:`MODELS`: ``lstsq`` (least squares of the per-day
            z-scored target on the z-scored members over the train cells), ``ridge`` (the same with an L2
            penalty), ``ic_weighted`` (weights proportional to each member's train IC), ``rolling``
            (``lstsq`` refit every ``refit_every`` days on the last ``lookback`` days known before the
            day applied), ``conditional`` (weights that move with a daily state known at each signal day:
            ``w_k(t) = a_k + sum_j b_kj s_j(t)``, fitted by penalised least squares on train; the state is
            ``condition_dim`` principal components of the news read on the signal day and the
            ``condition_days - 1`` days before, see :mod:`alpha_env.pool.state`).
        rule: admission rule, ``"pool"`` (correlation-gated replacement, smallest contribution leaves)
            or ``"alphagen"`` (AlphaGen's: refuse above a mutual IC, drop the least-weighted member;
            needs ``model="lstsq"``, which it fits in IC space as AlphaGen does).
        max_corr: correlation threshold on the mean daily cross-sectional correlation of two members'
            scored train signals. ``None`` means 0.7 for ``"pool"`` (compared in absolute value) and 0.99
            for ``"alphagen"`` (AlphaGen's ``ic_mut`` threshold, compared signed).
        replace_by: rule ``"pool"`` only: a candidate correlated above ``max_corr`` replaces those members
            when it raises the objective (``"objective"``) or has a larger |train IC| (``"ic"``).
        horizon: target horizon in trading days (forward return from close ``t+delay`` to
            ``t+delay+horizon``).
        ridge_alpha: L2 penalty of ``ridge`` and ``conditional`` per train cell: weights minimise
            ``mean((sum_k w_k z_k - z_y)^2) + ridge_alpha * |w|^2`` (dimensionless, >= 0; for
            ``conditional`` ``w`` holds every ``a_k`` and ``b_kj``).
        refit_every: ``rolling``: days between refits (r).
        lookback: ``rolling``: signal rows per fit (L).
        condition_days: ``conditional``: trading days of news averaged into the state of a signal day
            (that day and the ones before; documents count from the day they are published before the
            close).
        condition_dim: ``conditional``: principal components of the news embedding in the state (fitted
            on the train days only).
        holdout: share (in [0, 1)) of the train rows, at the end of train, on which the objective and
            the members' single ICs are scored while the weights are fitted on the rows before (whose
            targets are known before the held-out rows start); 0 = fit and score on the same rows
            (AlphaGen's in-sample objective, which rewards alphas that only fit noise). Not with rolling.
        min_ic_t: a candidate whose single train IC is not significant, |t| = |mean / sd| · sqrt(days) of
            its daily IC on the scored train rows below this, is refused (0 = off). With thousands of
            candidates, noise alone reaches |t| of 2 to 3 often; planted effects of the embedded market
            reach 4 to 5.
        min_half_ic_t: a candidate whose daily train IC is not significant in *each* half of the scored
            train rows, with the sign of its whole-train IC (|t| of each half below this, or a half of
            the other sign), is refused (0 = off): a real effect holds through train, a fit to noise is
            often carried by one stretch of it. Decided on train rows only.
        objective: ic (mean daily Pearson IC of the combined signal on train), sharpe (annualized train
            Sharpe of the combined signal's backtest: the ACE's when the pool is built by the env, else
            :func:`alpha_env.pool.sharpe_objective` with default backtest settings) or a callable
            ``f(combined (T, N)) -> float`` to maximise.
    """

    capacity: int = 20
    model: str = "lstsq"
    rule: str = "pool"
    max_corr: float | None = None
    replace_by: str = "objective"
    horizon: int = 1
    ridge_alpha: float = 1e-3
    refit_every: int = 20
    lookback: int = 250
    condition_days: int = 5
    condition_dim: int = 1
    holdout: float = 0.0
    min_ic_t: float = 0.0
    min_half_ic_t: float = 0.0
    objective: Objective = "ic"

    def to_dict(self) -> dict[str, object]:
        """Every setting, JSON-ready (a callable objective is written ``"callable"``)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not isinstance(out["objective"], str):
            out["objective"] = "callable"
        return out

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "capacity", _int("capacity", self.capacity, 1))
        put(self, "model", _choice("model", self.model, MODELS))
        put(self, "rule", _choice("rule", self.rule, RULES))
        put(self, "replace_by", _choice("replace_by", self.replace_by, REPLACE_BY))
        if self.rule == "alphagen" and self.model != "lstsq":
            raise SettingsError(f"pool rule 'alphagen' fits its own least-squares weights; model "
                                f"{self.model!r} cannot be combined with it (use model='lstsq')")
        corr = _DEFAULT_MAX_CORR[self.rule] if self.max_corr is None else self.max_corr
        if isinstance(corr, bool) or not isinstance(corr, int | float) or not 0.0 < float(corr) <= 1.0:
            raise SettingsError(f"pool setting max_corr must be in (0, 1], got {self.max_corr!r}")
        put(self, "max_corr", float(corr))
        try:
            put(self, "horizon", check_horizon(self.horizon))
        except SettingsError as exc:
            raise SettingsError(f"pool setting {exc}") from None
        a = self.ridge_alpha
        if isinstance(a, bool) or not isinstance(a, int | float) or not math.isfinite(a) or a < 0:
            raise SettingsError(f"pool setting ridge_alpha must be a finite number >= 0, got {a!r}")
        put(self, "ridge_alpha", float(a))
        put(self, "refit_every", _int("refit_every", self.refit_every, 1))
        put(self, "lookback", _int("lookback", self.lookback, 1))
        put(self, "condition_days", _int("condition_days", self.condition_days, 1))
        put(self, "condition_dim", _int("condition_dim", self.condition_dim, 1))
        h = self.holdout
        if isinstance(h, bool) or not isinstance(h, int | float) or not 0.0 <= float(h) < 1.0:
            raise SettingsError(f"pool setting holdout must be a share in [0, 1), got {h!r}")
        if h > 0 and self.model == "rolling":
            raise SettingsError("pool setting holdout applies to fixed weights; rolling weights are already "
                                "fitted only on days before the day they apply to")
        put(self, "holdout", float(h))
        for name in ("min_ic_t", "min_half_ic_t"):
            t = getattr(self, name)
            if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
                raise SettingsError(f"pool setting {name} must be a finite number >= 0, got {t!r}")
            put(self, name, float(t))
        if not (self.objective in OBJECTIVES or callable(self.objective)):
            raise SettingsError(f"pool setting objective must be one of {', '.join(OBJECTIVES)} or a "
                                f"callable, got {self.objective!r}")
