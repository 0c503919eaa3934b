"""The options of :class:`~alpha_env.env.AlphaStackEnv`, declared once (defaults, units, validation, help).

``AlphaStackEnv(panel, max_len=30, reward="ic")`` and ``gym.make(id, max_len=30)`` build an
:class:`EnvSettings` from their keyword arguments; ``experiments/train_ppo.py`` offers every field as a
command-line option (:mod:`alpha_env.options`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

from alpha_env.env.rewards import POOL_REWARD, REWARDS
from alpha_env.errors import SettingsError
from alpha_env.evaluate import DEFAULT_CACHE_BYTES
from alpha_env.pool.settings import PoolSettings

__all__ = ["EnvSettings", "MASK_DTYPES"]

#: dtypes offered for the observation's ``action_mask`` (float32 suits agents that take ``log(mask)``).
MASK_DTYPES: tuple[str, ...] = ("int8", "float32")


@dataclass(frozen=True)
class EnvSettings:
    """How an episode is built and paid (everything but the market, the backtest and the store).

    Attributes:
        max_len: most expression tokens per episode (END not counted).
        reward: the metric paid at the end, over the reward window (train split, or the days after the
            decision date in document mode); pool: the gain of the pool objective when the alpha is
            offered to the run's alpha pool (0 when refused), see docs/pool.md.
        pool: the alpha pool of reward=pool (options --pool-capacity, --pool-model, --pool-objective, ...).
        reward_scale: factor on the pool reward (pool gains are small numbers: an IC gain of 0.01 is a
            good alpha).
        repeat_penalty: single-alpha rewards: an alpha whose signal repeats one this environment already
            scored earns this instead (none = off); the novelty option against collapsing onto one alpha.
        degenerate_penalty: reward of a degenerate alpha (no finite signal, constant, no book, error).
        invalid_action_penalty: reward of an action outside the mask (the episode ends).
        correlation_penalty: coefficient of max |PnL correlation| (reward window) with alphas found before.
        found_capacity: found alphas remembered for the correlation penalty (oldest dropped first).
        cache_bytes: budget of the evaluator's sub-expression cache in bytes (0 turns it off).
        max_window: longest window token allowed in days (none: train length - 1).
        refuse_degenerate: the action masks never allow a call that its own arguments make degenerate
            whatever the data (correlation of a number, stddev over 1 day, group_mean over the market;
            alpha_env.grammar.degenerate); false: only the type rules mask (round 1's masks).
        mask_dtype: dtype of the observation's action_mask: int8 (0/1) or float32 (0.0/1.0).
        doc_days: document mode: trading days of news averaged before the decision date.
        horizon: document mode: trading days after the decision date whose metric is the reward.
        warmup: document mode: trading days of history kept before the decision date.
    """

    max_len: int = 20
    reward: str = field(default="sharpe", metadata={"choices": (*REWARDS, POOL_REWARD)})
    pool: PoolSettings = field(default_factory=PoolSettings, metadata={"prefix": "pool_"})
    reward_scale: float = 1.0
    repeat_penalty: float | None = None
    degenerate_penalty: float = -1.0
    invalid_action_penalty: float = -2.0
    correlation_penalty: float = 0.0
    found_capacity: int = 1000
    cache_bytes: int = DEFAULT_CACHE_BYTES
    max_window: int | None = None
    refuse_degenerate: bool = True
    mask_dtype: str = field(default="int8", metadata={"choices": MASK_DTYPES})
    doc_days: int = 5
    horizon: int = 20
    warmup: int = 60

    def __post_init__(self) -> None:
        for name in ("max_len", "found_capacity", "doc_days", "horizon"):
            _set(self, name, _int(name, getattr(self, name), low=1))
        for name in ("cache_bytes", "warmup"):
            _set(self, name, _int(name, getattr(self, name), low=0))
        if not isinstance(self.refuse_degenerate, bool):
            raise SettingsError(f"refuse_degenerate must be true or false, got {self.refuse_degenerate!r}")
        if self.max_window is not None:
            _set(self, "max_window", _int("max_window", self.max_window, low=1))
        for name in ("degenerate_penalty", "invalid_action_penalty", "correlation_penalty", "reward_scale"):
            _set(self, name, _finite(name, getattr(self, name)))
        if self.repeat_penalty is not None:
            _set(self, "repeat_penalty", _finite("repeat_penalty", self.repeat_penalty))
        if not self.reward_scale > 0:
            raise SettingsError(f"reward_scale must be > 0, got {self.reward_scale}")
        if not isinstance(self.pool, PoolSettings):
            raise SettingsError(f"pool must be PoolSettings, got {type(self.pool).__name__}")
        if self.correlation_penalty < 0:
            raise SettingsError(f"correlation_penalty must be >= 0, got {self.correlation_penalty}")
        reward = str(self.reward).lower()
        if reward not in REWARDS and reward != POOL_REWARD:
            raise SettingsError(f"unknown reward {self.reward!r}; choose one of "
                                f"{', '.join((*REWARDS, POOL_REWARD))}")
        _set(self, "reward", reward)
        if self.mask_dtype not in MASK_DTYPES:
            raise SettingsError(
                f"mask_dtype must be one of {', '.join(MASK_DTYPES)}, got {self.mask_dtype!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (field order; a callable pool objective is written as its name)."""
        out = asdict(self)
        if callable(self.pool.objective):
            out["pool"]["objective"] = getattr(self.pool.objective, "__name__", "callable")
        return out


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _int(name: str, value: Any, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise SettingsError(f"{name} must be {what}, got {value!r}")
    return int(value)


def _finite(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise SettingsError(f"{name} must be finite, got {value!r}")
    return out
