"""SB3 callbacks: alpha metrics in TensorBoard, hyperparameters, and gradual unfreezing of the decoder.

TensorBoard tags written by :class:`AlphaMetricsCallback` (once per rollout, next to SB3's ``rollout/*``
and ``train/*``):

=========================== ====================================================================
tag                         meaning
=========================== ====================================================================
``alpha/best_sharpe_train`` train-split Sharpe of the best alpha so far (best by episode reward)
``alpha/best_sharpe_valid`` valid-split Sharpe of that same alpha, via the ACE (never used to train)
``alpha/best_reward``       the best episode reward so far
``alpha/valid_rate``        share of this rollout's episodes that produced a valid, non-degenerate alpha
``alpha/unique_rate``       share of this rollout's episodes whose expression was new to the run
``alpha/mean_length``       mean number of tokens per episode in this rollout
``alpha/cache_hit_rate``    sub-expression cache hit rate of the environments' evaluators
``alpha/evaluations``       finished episodes (backtests) so far
``alpha/top_alphas``        text: a Markdown table of the best alphas with train and valid Sharpe
``hparams``                 the run's hyperparameters (HParams plugin) and ``hparams/table`` (text)
``train/kl_to_init``        mean KL(π ‖ π₀) to the initial actor during the last update (when tracked)
``train/policy_entropy``    mean entropy of the masked policy during the last update
=========================== ====================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HParam

from alpha_env.search.tracking import AlphaTracker
from encoders.finetune import unfreeze_top, unfrozen_groups

__all__ = ["AlphaMetricsCallback", "PoolMetricsCallback", "EvaluationBudgetCallback",
           "GradualUnfreezeCallback", "TimeLimitCallback", "hparams_markdown"]

_TEXT_ONLY = ("stdout", "log", "json", "csv")


def hparams_markdown(hparams: dict[str, Any]) -> str:
    """A two-column Markdown table of hyperparameters (TensorBoard text dashboard)."""
    lines = ["| parameter | value |", "|---|---|"]
    for key in sorted(hparams):
        lines.append(f"| {key} | `{hparams[key]}` |")
    return "\n".join(lines)


class AlphaMetricsCallback(BaseCallback):
    """Feeds every finished episode to an :class:`AlphaTracker` and logs the ``alpha/*`` tags per rollout.

    Args:
        tracker: where finished episodes go (it owns the ACE used for valid-split figures).
        hparams: hyperparameters written once at the start (HParams plugin and a text table).
        cache_stats: callable returning ``(hits, misses)`` summed over the environments' evaluators, or
            ``None`` to skip ``alpha/cache_hit_rate``.
        top_n: rows of the top-alpha text table.
        on_episode: optional hook ``(reward, info)`` called for every finished episode.
        pnl_image_every: every this many rollouts (and at the end), the best alpha's cumulative PnL per
            split as an image ``alpha/best_pnl`` (one simulation by the tracker's ACE; 0 = off).
        hparam_metrics: the scalar tags the HParams tab shows for this run (their last values), e.g. the
            pool's ``pool/sharpe_valid``; the best alpha's train/valid Sharpe and the episode reward always.
    """

    def __init__(
        self,
        tracker: AlphaTracker,
        hparams: dict[str, Any] | None = None,
        cache_stats: Callable[[], tuple[int, int]] | None = None,
        top_n: int = 10,
        on_episode: Callable[[float, dict[str, Any]], None] | None = None,
        verbose: int = 0,
        pnl_image_every: int = 10,
        hparam_metrics: Sequence[str] = (),
    ):
        super().__init__(verbose)
        self.tracker = tracker
        self.hparams = {k: _hparam_value(v) for k, v in (hparams or {}).items()}
        self.cache_stats = cache_stats
        self.top_n = top_n
        self.on_episode = on_episode
        self._ep_reward: np.ndarray | None = None
        self._ep_len: np.ndarray | None = None
        self._last_cache: tuple[int, int] = (0, 0)
        self.pnl_image_every = int(pnl_image_every)
        self.hparam_metrics = tuple(hparam_metrics)
        self._rollouts = 0

    def _on_training_start(self) -> None:
        n = self.training_env.num_envs
        self._ep_reward = np.zeros(n)
        self._ep_len = np.zeros(n, dtype=np.int64)
        if self.hparams:
            metric_dict = {"alpha/best_sharpe_train": 0.0, "alpha/best_sharpe_valid": 0.0,
                           "rollout/ep_rew_mean": 0.0, **{tag: 0.0 for tag in self.hparam_metrics}}
            self.logger.record("hparams", HParam(self.hparams, metric_dict), exclude=_TEXT_ONLY)
            self.logger.record("hparams/table", hparams_markdown(self.hparams), exclude=_TEXT_ONLY)

    def _on_step(self) -> bool:
        rewards = np.asarray(self.locals["rewards"], dtype=float)
        dones = np.asarray(self.locals["dones"], dtype=bool)
        infos: Sequence[dict[str, Any]] = self.locals["infos"]
        assert self._ep_reward is not None and self._ep_len is not None
        self._ep_reward += rewards
        self._ep_len += 1
        for i in np.flatnonzero(dones):
            info = infos[i]
            length = int(info.get("length", self._ep_len[i]))
            self.tracker.add(float(self._ep_reward[i]), info, length)
            if self.on_episode is not None:
                self.on_episode(float(self._ep_reward[i]), info)
            self._ep_reward[i] = 0.0
            self._ep_len[i] = 0
        return True

    def _on_rollout_end(self) -> None:
        self.log_alpha_metrics()
        self._rollouts += 1
        if self.pnl_image_every > 0 and self._rollouts % self.pnl_image_every == 0:
            self.log_best_pnl()

    def _on_training_end(self) -> None:
        self.log_alpha_metrics()
        if self.pnl_image_every > 0:
            self.log_best_pnl()
        self.logger.dump(self.num_timesteps)

    def log_best_pnl(self) -> None:
        """Record ``alpha/best_pnl``: the best alpha's cumulative net PnL (fraction of the book), the
        splits shaded, as a TensorBoard image (needs the tracker's ACE)."""
        best = self.tracker.best()
        ace = self.tracker.ace
        if best is None or ace is None or not best.expression:
            return
        from stable_baselines3.common.logger import TensorBoardOutputFormat

        if not any(isinstance(f, TensorBoardOutputFormat) for f in self.logger.output_formats):
            return  # only TensorBoard writes (and then closes) a figure: without it each one would leak
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from stable_baselines3.common.logger import Figure

        result = ace.simulate(best.expression, save=False)
        dates = np.asarray(result.dates)
        fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
        ax.plot(dates, np.nancumsum(np.nan_to_num(result.pnl)), lw=1.0)
        for name, sl in ace.panel.splits.items():
            a, b, _ = sl.indices(len(dates))
            if b > a:
                ax.axvspan(dates[a], dates[b - 1], alpha=0.08 if name == "train" else 0.16, lw=0)
                ax.text(dates[a], 1.0, f" {name}", transform=ax.get_xaxis_transform(), va="top", fontsize=7)
        ax.set_title(result.expression[:80], fontsize=8)
        ax.set_ylabel("cumulative PnL (book)", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        self.logger.record("alpha/best_pnl", Figure(fig, close=True), exclude=_TEXT_ONLY)

    def log_alpha_metrics(self) -> None:
        """Record the ``alpha/*`` tags for the episodes since the last call (dumped with SB3's next dump)."""
        stats = self.tracker.window()
        record = self.logger.record
        if stats.episodes:
            record("alpha/valid_rate", stats.valid_rate)
            record("alpha/unique_rate", stats.unique_rate)
            record("alpha/distinct_rate", stats.distinct_rate)
            record("alpha/mean_length", stats.mean_length)
        record("alpha/evaluations", self.tracker.n_evaluations)
        best = self.tracker.best()
        if best is not None:
            record("alpha/best_reward", best.reward)
            train = self.tracker.split_sharpe(best.expression, "train")
            valid = self.tracker.split_sharpe(best.expression, "valid")
            record("alpha/best_sharpe_train", best.reward if np.isnan(train) else train)
            if not np.isnan(valid):
                record("alpha/best_sharpe_valid", valid)
            record("alpha/top_alphas", self.tracker.top_markdown(self.top_n), exclude=_TEXT_ONLY)
        if self.cache_stats is not None:
            hits, misses = self.cache_stats()
            dh, dm = hits - self._last_cache[0], misses - self._last_cache[1]
            self._last_cache = (hits, misses)
            if dh + dm > 0:
                record("alpha/cache_hit_rate", dh / (dh + dm))
        stats_fn = getattr(self.model.policy, "pop_update_stats", None)
        if stats_fn is not None:
            for key, value in stats_fn().items():
                record(f"train/{key}", value)


class PoolMetricsCallback(BaseCallback):
    """TensorBoard ``pool/*`` tags of the run's alpha pool at the end of every ``every`` rollouts.

    ``pool/size``, ``pool/objective_train`` (the pool's own objective, in-sample), ``pool/ic_valid`` and
    ``pool/sharpe_valid`` (the combined alpha on the valid split at the ACE's cost: out of sample, the
    weights are fitted on train). Scoring the valid split costs one backtest of the combined signal.
    """

    def __init__(self, pool: Any, ace: Any, every: int = 1, verbose: int = 0):
        super().__init__(verbose)
        if every < 1:
            raise ValueError(f"every must be >= 1 rollout, got {every}")
        self.pool, self.ace, self.every = pool, ace, int(every)
        self._rollouts = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self._rollouts += 1
        if self._rollouts % self.every == 0:
            self.log_pool_metrics()

    def _on_training_end(self) -> None:
        self.log_pool_metrics()

    def log_pool_metrics(self) -> None:
        """Record the ``pool/*`` tags now (dumped with SB3's next dump)."""
        self.logger.record("pool/size", len(self.pool))
        self.logger.record("pool/objective_train", float(self.pool.objective))
        if len(self.pool):
            score = self.ace.score_signal(self.pool.combined(), "pool", "valid", rank_ic=False)
            self.logger.record("pool/ic_valid", float(score.metrics["ic"]))
            self.logger.record("pool/sharpe_valid", float(score.metrics["sharpe"]))


class GradualUnfreezeCallback(BaseCallback):
    """ULMFiT's gradual unfreezing: train the top of the decoder first, unfreeze one layer group per stage
    (:func:`encoders.finetune.unfrozen_groups` counts per rollout, :func:`encoders.finetune.unfreeze_top`).

    At the start only the heads and the top ``start_groups`` decoder layer groups are trainable; every
    ``every_n_rollouts`` rollouts the next group below is unfrozen, until everything trains. The policy must
    provide ``decoder_layer_groups()`` (parameter lists, bottom to top) as
    :class:`agents.policy.DecoderActorCriticPolicy` does.
    """

    def __init__(self, every_n_rollouts: int = 2, start_groups: int = 1, verbose: int = 0):
        super().__init__(verbose)
        if every_n_rollouts < 1 or start_groups < 0:
            raise ValueError("every_n_rollouts must be >= 1 and start_groups >= 0")
        self.every_n_rollouts = every_n_rollouts
        self.start_groups = start_groups
        self._rollouts = 0
        self._groups: list[list[Any]] = []
        self.n_trainable = 0

    def _on_training_start(self) -> None:
        self._groups = list(self.model.policy.decoder_layer_groups())
        self._rollouts = 0  # rollouts of this learn() call
        self._set(self.start_groups)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self._rollouts += 1
        n_groups = len(self._groups)
        self._set(unfrozen_groups(self._rollouts, n_groups, self.every_n_rollouts, self.start_groups))
        self.logger.record("train/unfrozen_layer_groups", self.n_trainable)

    def _set(self, n_top: int) -> None:
        """Make the top ``n_top`` groups trainable and freeze the rest (dropping their gradients)."""
        n_top = max(0, min(n_top, len(self._groups)))
        unfreeze_top(self._groups, n_top, clear_frozen_grads=True)
        self.n_trainable = n_top


class TimeLimitCallback(BaseCallback):
    """Stop training once ``seconds`` of wall time have passed since training started (a budget guard).

    ``stopped`` tells afterwards whether the limit cut the run short.
    """

    def __init__(self, seconds: float, verbose: int = 0):
        super().__init__(verbose)
        if not seconds > 0:
            raise ValueError(f"the time limit must be > 0 seconds, got {seconds}")
        self.seconds = float(seconds)
        self.stopped = False
        self._start = 0.0

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()

    def _on_step(self) -> bool:
        if time.perf_counter() - self._start > self.seconds:
            self.stopped = True
            return False
        return True


class EvaluationBudgetCallback(BaseCallback):
    """Stop training once the tracker has recorded ``n_evaluations`` finished episodes (backtests).

    Place it after the :class:`AlphaMetricsCallback` that feeds the tracker, so that comparisons with
    other searchers (random search, genetic programming) spend exactly the same number of evaluations.
    """

    def __init__(self, tracker: AlphaTracker, n_evaluations: int, verbose: int = 0):
        super().__init__(verbose)
        if n_evaluations < 1:
            raise ValueError(f"n_evaluations must be >= 1, got {n_evaluations}")
        self.tracker = tracker
        self.n_evaluations = int(n_evaluations)

    def _on_step(self) -> bool:
        return self.tracker.n_evaluations < self.n_evaluations


def _hparam_value(value: Any) -> Any:
    """HParams accept bool, int, float, str (and tensors); anything else is written as its text."""
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)
