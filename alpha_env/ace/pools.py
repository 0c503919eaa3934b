"""Pools in the ACE: a pool's combined alpha simulated like any alpha, with a stable id and key.

A pool (:class:`~alpha_env.pool.AlphaPool`) is judged by the ACE exactly as a single alpha: its combined
signal ``sum_k w_k z_k`` goes through :meth:`ACE.score_signal` and :meth:`ACE.complete` (backtest,
metrics per split and year, checks, PnL), and the result can be stored with
:meth:`~alpha_env.ace.AlphaStore.save_pool`, which also keeps its members and weights.

The pool's *key* is its canonical text, e.g. ::

    pool[lstsq,h=1](0.4123456789*rank(-delta(close, 5)); -0.2*ts_rank(volume, 10))

members by :func:`~alpha_env.pool.expression_key`, sorted, each with the weight in force on the last train
day rounded to 10 significant digits, and the settings that shape the combined signal (model, horizon,
``ridge_alpha`` for ``ridge``, ``refit_every`` and ``lookback`` for ``rolling``). The id is
``alpha_id(key, simulation settings, dataset id)``, as for an alpha. The weights are fitted on ``train``
(``metadata["pool"]["in_sample"]``): metrics on train are in-sample for the weights.

Example::

    from alpha_env.ace import ACE, AlphaStore
    from alpha_env.ace.pools import build_pool, simulate_pool
    from alpha_env.data import synthetic_market
    from alpha_env.pool import PoolSettings

    ace = ACE(synthetic_market(seed=0))
    pool, _ = build_pool(ace, ["rank(-delta(close, 5))", "ts_rank(volume, 10)"], PoolSettings())
    result = simulate_pool(ace, pool)
    result.alpha_id, result.metrics["valid"]["sharpe"], result.metadata["pool"]["members"]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from alpha_env.backtest import BacktestResult
from alpha_env.backtest.metrics import annualized_sharpe
from alpha_env.errors import SettingsError
from alpha_env.pool import AlphaPool, OfferResult, PoolSettings, expression_key

if TYPE_CHECKING:
    from alpha_env.ace.result import SimulationResult
    from alpha_env.ace.simulate import ACE, Score

__all__ = ["pool_key", "pool_info", "build_pool", "simulate_pool", "gross_sharpe", "new_pool",
           "score_for_pool", "offer_score", "WEIGHT_DIGITS", "IN_SAMPLE"]

#: Significant digits of a weight in a pool's key (a few ulps of a refit do not change the id).
WEIGHT_DIGITS = 10
#: The splits a pool's weights are fitted on.
IN_SAMPLE: tuple[str, ...] = ("train",)


def _settings_tag(settings: PoolSettings, state_label: str = "") -> str:
    parts = [settings.model, f"h={settings.horizon}"]
    if settings.model == "ridge":
        parts.append(f"alpha={settings.ridge_alpha:.{WEIGHT_DIGITS}g}")
    if settings.model == "rolling":
        parts += [f"r={settings.refit_every}", f"L={settings.lookback}"]
    if settings.model == "conditional":
        parts += [f"alpha={settings.ridge_alpha:.{WEIGHT_DIGITS}g}", f"state={state_label}"]
    return ",".join(parts)


def _members(pool: AlphaPool) -> list[dict[str, Any]]:
    """The members sorted by key: ``expression`` (its equivalence key), ``weight``, ``ic``."""
    rows = [{"expression": expression_key(m.expr), "weight": float(m.weight), "ic": float(m.ic)}
            for m in pool.members]
    return sorted(rows, key=lambda m: m["expression"])


def pool_key(pool: AlphaPool) -> str:
    """The canonical text of ``pool`` (see the module docstring): equal keys, equal combined signals on
    the same panel.

    Raises:
        SettingsError: the pool is empty (it has no signal).
    """
    if len(pool) == 0:
        raise SettingsError("an empty pool has no signal to simulate; offer it some alphas first")
    terms = "; ".join(f"{m['weight']:.{WEIGHT_DIGITS}g}*{m['expression']}" for m in _members(pool))
    return f"pool[{_settings_tag(pool.settings, pool.state_label)}]({terms})"


def pool_info(pool: AlphaPool) -> dict[str, Any]:
    """JSON-ready description of ``pool`` (``metadata["pool"]`` of its simulation): ``members`` (sorted
    as in the key: ``expression``, ``weight``, train ``ic``), ``model``, ``pool_settings``, ``in_sample``
    (the splits the weights are fitted on), ``fit_rows`` (``[start, stop)`` signal rows of the fit),
    ``delay`` and ``objective_train`` (the pool objective on train)."""
    s = pool.settings
    settings = s.to_dict()
    return {
        "members": _members(pool),
        "model": s.model,
        "pool_settings": settings,
        "in_sample": list(IN_SAMPLE),
        "fit_rows": [int(pool.fit.start), int(pool.fit.stop)],
        "delay": int(pool.delay),
        "objective_train": float(pool.objective),
        **({"state": pool.state_label} if pool.state is not None else {}),
    }


def new_pool(ace: ACE, settings: PoolSettings | None = None) -> AlphaPool:
    """An empty :class:`~alpha_env.pool.AlphaPool` on ``ace.panel``: target aligned with the ACE's delay;
    objective ``"sharpe"`` is the ACE's own train Sharpe of the combined signal (its universe,
    neutralization, costs and return cleaning); model ``"conditional"`` gets the news state of
    :func:`news_state`. The one way the env, the CLI and the main job make pools."""
    settings = settings if settings is not None else PoolSettings()
    state, label = (news_state(ace.panel, settings) if settings.model == "conditional" else (None, "custom"))
    objective_fn = None
    if settings.objective == "sharpe":
        def objective_fn(combined: np.ndarray) -> float:
            score = ace.score_signal(combined, "pool", "train", rank_ic=False, ic=False)
            return float(score.metrics["sharpe"])
    return AlphaPool.from_panel(ace.panel, settings, delay=ace.settings.backtest.delay,
                                objective_fn=objective_fn, state=state, state_label=label)


def score_for_pool(ace: ACE, pool: AlphaPool, expr: Any, *, rank_ic: bool = False) -> Score:
    """:meth:`ACE.score` of ``expr`` on the train split, evaluated on the dates an offer to ``pool``
    reads only (:attr:`~alpha_env.pool.AlphaPool.signal_rows`, at least the train window's
    :meth:`ACE.window_rows`), without the Pearson IC (the pool reads the signal, a search the Sharpe):
    what a search pays per candidate. Offer it with :func:`offer_score`."""
    return ace.score(expr, "train", rank_ic=rank_ic, ic=False,
                     rows=max(ace.window_rows("train"), pool.signal_rows))


def offer_score(ace: ACE, pool: AlphaPool, score: Score) -> OfferResult:
    """Offer a :meth:`ACE.score` to ``pool``; a score of the first dates only is evaluated in full
    (:meth:`ACE.full_signal`) if, and only if, the pool admits it."""
    return pool.offer(score.expression, score.signal, full=lambda: ace.full_signal(score))


def news_state(panel: Any, settings: PoolSettings) -> tuple[np.ndarray, str]:
    """The ``conditional`` model's daily state on ``panel``: ``settings.condition_dim`` principal components
    (fitted on the train split's days) of the mean hashed bag-of-words embedding (64 components,
    :func:`~alpha_env.env.embeddings.embed_document_store`) of the news available on each signal day and
    the ``condition_days - 1`` days before. Returns ``(state (T, dim), label)``.

    Raises:
        SettingsError: the panel has no documents.
    """
    from alpha_env.env.embeddings import daily_news_vectors, embed_document_store
    from alpha_env.pool.state import principal_state

    docs = panel.documents
    if docs is None or len(docs) == 0:
        raise SettingsError("pool model 'conditional' reads the news, but this panel has no documents: use "
                            "another pool model (e.g. --pool-model lstsq) or data with news")
    if not docs.is_aligned_to(panel.dates):
        docs = docs.aligned(panel.dates)
    vectors = daily_news_vectors(embed_document_store(docs), panel.dates, settings.condition_days)
    state = principal_state(vectors, panel.splits["train"], settings.condition_dim)
    return state, f"news(hashed64,days={settings.condition_days},dim={settings.condition_dim})"


def build_pool(ace: ACE, expressions: Iterable[str], settings: PoolSettings | None = None, *,
               offer: bool = False) -> tuple[AlphaPool, list[tuple[str, OfferResult | None]]]:
    """A pool on the ACE's panel (target aligned with its delay) holding ``expressions``.

    Args:
        expressions: alpha texts, evaluated by the ACE's evaluator.
        settings: the pool settings (defaults; with ``offer=False`` the capacity is raised to fit every
            expression).
        offer: offer each expression in turn under the settings' admission rule (``False``: add them all,
            no rule).

    Returns:
        The pool and, per expression, its canonical text and :class:`OfferResult` (``None`` when added).

    Raises:
        ExpressionError: an expression is malformed or cannot be evaluated on this panel.
        DataError: the same alpha twice (``offer=False``).
    """
    texts = list(expressions)
    settings = settings if settings is not None else PoolSettings()
    if not offer and len(texts) > settings.capacity:
        from dataclasses import replace

        settings = replace(settings, capacity=len(texts))
    pool = new_pool(ace, settings)
    log: list[tuple[str, OfferResult | None]] = []
    for text in texts:
        tree, canon = ace.canonical(text)
        signal = ace.evaluator.evaluate(tree)
        if offer:
            log.append((canon, pool.offer(canon, signal)))
        else:
            pool.add(canon, signal)
            log.append((canon, None))
    return pool, log


def gross_sharpe(bt: BacktestResult, window: slice) -> float:
    """Annualised Sharpe of the gross (before cost) PnL over ``window``'s holding days, from the first
    held day on, as :func:`~alpha_env.backtest.window_metrics` computes the net one."""
    start, stop = bt.counted_days(window)
    return annualized_sharpe(bt.gross_pnl[start:stop]) if stop > start else 0.0


def simulate_pool(ace: ACE, pool: AlphaPool) -> SimulationResult:
    """Simulate ``pool``'s combined alpha with the ACE, like any alpha; nothing is stored.

    The result's ``expression`` is :func:`pool_key`, its id ``alpha_id(key, settings, dataset)``, and
    ``metadata["pool"]`` is :func:`pool_info` plus ``sharpe_gross`` (per split and ``all``). Store it
    with ``store.save_pool(result)``.

    Raises:
        SettingsError: an empty pool, a pool on another panel shape, or a pool whose target delay is not
            the ACE's delay.
    """
    shape = (ace.panel.n_dates, ace.panel.n_stocks)
    if pool.shape != shape:
        raise SettingsError(f"pool is on a {pool.shape} panel, the ACE's is {shape}")
    if pool.delay != ace.settings.backtest.delay:
        raise SettingsError(f"pool target delay {pool.delay} differs from the simulation delay "
                            f"{ace.settings.backtest.delay}")
    key = pool_key(pool)
    result = ace.complete(ace.score_signal(pool.combined(), key, None))
    info = pool_info(pool)
    bt = result.backtest
    assert bt is not None  # a fresh simulation carries its backtest
    windows = {**ace.panel.splits, "all": slice(None)}
    info["sharpe_gross"] = {name: gross_sharpe(bt, sl) for name, sl in windows.items()}
    result.metadata["pool"] = info
    return result
