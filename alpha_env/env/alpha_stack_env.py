"""The Gymnasium environment: one episode writes one alpha expression token by token."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from alpha_env.env.embeddings import EmbeddingTable, EpisodeWindow, sample_window
from alpha_env.env.rewards import POOL_REWARD, FoundAlphas, reward_metric, window_degenerate_reason
from alpha_env.env.settings import EnvSettings, _int
from alpha_env.errors import AlphaEnvError, ExpressionError, SettingsError

__all__ = ["AlphaStackEnv", "DEFAULT_DOCUMENT_DIM"]

#: Length of the (all-zero) document vector when no embeddings are given: the size of the bundled
#: offline encoder (all-MiniLM-L6-v2), so one policy architecture fits runs with and without news.
DEFAULT_DOCUMENT_DIM = 384


class AlphaStackEnv(gym.Env[dict[str, np.ndarray], np.int64]):
    """Write a formulaic alpha token by token; the reward is its backtest on the training days.

    ## Description

    Each episode builds one expression of the alpha language ("101 Formulaic Alphas") as an AlphaStack:
    postfix tokens, operands first (``close 5d delta rank`` is ``rank(delta(close, 5))``). A grammar mask
    allows, at every step, exactly the tokens that keep the stack well typed *and* leave it completable
    into one series within ``max_len`` tokens; choosing ``END`` submits the expression, which the ACE
    (Alpha Creation Environment) evaluates and backtests. Found alphas go to the ACE store when one is
    given. In *document-conditioned* mode (``document_embeddings`` given), each episode also draws a
    decision date ``t`` in the train split, shows the mean embedding of the news published before ``t``,
    and rewards the alpha's Sharpe over the ``horizon`` trading days after ``t``.

    ## Action Space

    ``Discrete(len(codebook))``: action ``a`` appends token ``codebook.token(a)``. Ids 0 (PAD) and 1 (BOS)
    are never allowed; id 2 is ``END``. :meth:`action_masks` (sb3-contrib convention), the observation's
    ``action_mask`` and ``info["action_mask"]`` give the allowed ids: the grammar mask AND the agent
    vocabulary (by default the codebook's agent vocabulary, restricted to the fields and groups the panel
    has and to windows shorter than the train split). An action outside the mask ends the episode with
    ``invalid_action_penalty`` (``info["reason"] == "invalid_action"``); it never raises.

    ## Observation Space

    A ``Dict``:

    | key           | space                            | meaning                                       |
    |---------------|----------------------------------|-----------------------------------------------|
    | `tokens`      | `Box(0, n-1, (max_len,), int64)` | ids written so far, then PAD (0); no BOS/END  |
    | `action_mask` | `MultiBinary(n)` (int8)          | 1 = the id may be written next (float32 `Box` |
    |               |                                  | with ``mask_dtype="float32"``)                |
    | `document`    | `Box(low, high, (d,), float32)`  | mean news embedding (zeros without documents) |
    | `position`    | `Box(0, max_len, (1,), int64)`   | number of tokens written                      |
    | `stack_depth` | `Box(0, max_len, (1,), int64)`   | values on the AlphaStack                      |

    ``n = len(codebook)``; ``d`` is the embedding size (``DEFAULT_DOCUMENT_DIM`` = 384 without documents);
    ``low``/``high`` are the component-wise extremes of the embedding table and 0 (widened by 1 for a
    component that is always 0; -1 and 1 without documents, where the vector stays zero).

    ## Rewards

    0 for every token but the last. On ``END`` the expression is scored once by the ACE (``ACE.score``) on
    the dates up to the reward window's end and the day after (all operators are causal, so these rows equal
    the full panel's; the whole panel when the store will keep a new alpha's simulation or the correlation
    penalty is on; an admitted pool member is evaluated in full) and the reward is the ``reward`` metric
    (``sharpe``: annualized Sharpe ``sqrt(252)·mean/std`` of the daily PnL; ``ic``, ``rank_ic``,
    ``fitness``; see :mod:`alpha_env.env.rewards`) of the *holding days of the train split only* (document
    mode: of days ``t+1 .. t+H``), so no valid/test return enters a reward. Minus
    ``correlation_penalty · max|corr|`` with the train-window PnL of the alphas this environment found
    before (when the coefficient is > 0). A degenerate alpha (no finite signal, constant across stocks, no
    book held in the window, evaluation error) gets ``degenerate_penalty``; an invalid action
    ``invalid_action_penalty``.

    ## Starting State

    An empty stack (``tokens`` all PAD, ``position`` 0). Document mode: the decision date ``t`` is drawn
    uniformly from the train days that leave ``max(doc_days, warmup)`` days before and ``horizon`` after.

    ## Episode End

    * Termination: ``END`` is chosen (the reward is paid), or an invalid action is taken.
    * Truncation: only if the grammar cannot finish within ``max_len`` tokens (no token is allowed); the
      completability mask makes this impossible, and the tests check it.

    ``info`` at the end holds ``reason`` (``complete``, ``degenerate``, ``invalid_action``,
    ``length_limit``), ``expression`` (canonical text), ``alpha_id``, ``metrics`` (reward window only),
    ``raw_reward`` (before the correlation penalty), ``max_correlation`` and ``degenerate_reason``.

    ## Arguments

    ```python
    import gymnasium as gym
    import alpha_env.env  # registers the ids

    env = gym.make("AlphaEnv/AlphaStack-v0")                        # embedded synthetic market
    env = gym.make("AlphaEnv/AlphaStack-v0", data="path/to/dataset", max_len=30, reward="ic")
    obs, info = env.reset(seed=0)
    ```

    Objects:

    * ``panel``: the :class:`~alpha_env.data.MarketPanel` (``None``: the synthetic market, seed 0).
    * ``settings``: :class:`~alpha_env.ace.SimulationSettings` of the backtest (ACE defaults).
    * ``store``: an :class:`~alpha_env.ace.AlphaStore` or a path to its SQLite file; found (non-degenerate)
      alphas are saved there. A path is opened by the environment (and closed by :meth:`close`), so it is
      the form for subprocess workers sharing one store.
    * ``codebook``: the token ids (:meth:`Codebook.default`); ``vocabulary``: ids, token texts or a bool
      mask of the ids an agent may use (default: the codebook's agent vocabulary), given to the grammar as
      its allowed-id mask (one codebook, no id translation).
    * ``document_embeddings``: an :class:`EmbeddingTable`, a DataFrame indexed by availability date, or
      a mapping date → vector; turns on document mode. ``document_dim``: vector size (inferred).
    * ``render_mode``: ``"ansi"`` (returns the current stack as text) or ``"human"`` (prints it).
    * ``alpha_pool``: an :class:`~alpha_env.pool.AlphaPool` for ``reward="pool"`` shared by several
      in-process environments (default: the environment builds its own from ``pool``; every
      ``SubprocVecEnv`` worker then has a pool of its own).

    Options, declared once in :class:`~alpha_env.env.EnvSettings` (pass ``env_settings=EnvSettings(...)``
    and/or the fields as keywords; ``self.config`` holds the result):

    * ``max_len`` (20): most expression tokens (``END`` not counted).
    * ``reward`` (``"sharpe"``): the window metric paid at the end (``ic``, ``rank_ic``, ``fitness``).
    * ``degenerate_penalty`` (-1.0), ``invalid_action_penalty`` (-2.0): rewards of failed episodes.
    * ``correlation_penalty`` (0.0): coefficient of the max |PnL correlation| with found alphas;
      ``found_capacity`` (1000): found alphas remembered for it (oldest dropped first).
    * ``cache_bytes``: budget of the evaluator's sub-expression cache (0 turns it off).
    * ``max_window``: longest window token allowed (default: train length - 1).
    * ``mask_dtype`` (``"int8"``): dtype of the observation's ``action_mask``; ``"float32"`` for agents
      that take ``log(mask)`` (e.g. RLlib action-masking modules).
    * ``doc_days`` (5): trading days of news averaged; ``horizon`` (20): reward days after ``t``;
      ``warmup`` (60): trading days of history kept before ``t``.
    * ``pool`` (:class:`~alpha_env.pool.PoolSettings`, or its fields prefixed: ``pool_capacity=10``,
      ``pool_model="ridge"``, ``pool_objective="sharpe"``): the pool of ``reward="pool"``;
      ``reward_scale`` (1.0) multiplies the pool reward; ``repeat_penalty`` (off): single-alpha rewards pay
      this for a signal the environment already scored.

    ## Version History

    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        panel: Any = None,
        *,
        settings: Any = None,
        store: Any = None,
        codebook: Any = None,
        vocabulary: Any = None,
        document_embeddings: Any = None,
        document_dim: int | None = None,
        render_mode: str | None = None,
        env_settings: EnvSettings | None = None,
        alpha_pool: Any = None,
        **options: Any,
    ) -> None:
        from alpha_env.ace import ACE, AlphaStore
        from alpha_env.data import synthetic_market
        from alpha_env.grammar.codebook import Codebook
        from alpha_env.grammar.state import GrammarState

        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            modes = self.metadata["render_modes"]
            raise SettingsError(f"render_mode must be one of {modes}, got {render_mode!r}")
        self.render_mode = render_mode
        self.config = _env_settings(env_settings, options)
        cfg = self.config
        self.panel = panel if panel is not None else synthetic_market(seed=0)
        if "train" not in self.panel.splits:
            raise SettingsError(f"the panel has no 'train' split (splits: {sorted(self.panel.splits)})")
        self.train = self.panel.splits["train"]
        train_len = len(range(*self.train.indices(self.panel.n_dates)))
        if train_len < 3:
            raise SettingsError(f"the train split has {train_len} days; a reward needs at least 3")
        self.max_len = cfg.max_len
        self.reward_name = cfg.reward
        self._metric = reward_metric(cfg.reward)
        self.degenerate_penalty = cfg.degenerate_penalty
        self.invalid_action_penalty = cfg.invalid_action_penalty
        self.correlation_penalty = cfg.correlation_penalty

        # ---- tokens: one codebook; the agent vocabulary is the grammar's allowed-id mask
        self.codebook = codebook if codebook is not None else Codebook.default()
        if not isinstance(self.codebook, Codebook):
            raise SettingsError(f"codebook must be a Codebook, not {type(self.codebook).__name__}")
        self.max_window = train_len - 1 if cfg.max_window is None else cfg.max_window
        self.vocabulary = self._build_vocabulary(vocabulary)
        self.vocabulary.setflags(write=False)
        self._grammar_state_cls = GrammarState
        self.refuse_degenerate = cfg.refuse_degenerate
        try:
            GrammarState(self.codebook, self.max_len, allowed=self.vocabulary,
                         refuse_degenerate=self.refuse_degenerate)
        except ExpressionError as exc:
            raise SettingsError(f"max_len={self.max_len} with this vocabulary: {exc.message}") from None

        # ---- evaluation: one ACE (with its evaluator and cache) for the environment's life
        self.cache_bytes = cfg.cache_bytes
        self._owns_store = isinstance(store, str | Path)
        self.store = AlphaStore(store) if self._owns_store else store
        # rank IC costs two sorts per day: compute it only when it is the reward
        self.ace = ACE(self.panel, settings, store=self.store, cache_bytes=self.cache_bytes,
                       rank_ic=self.reward_name == "rank_ic")
        self.evaluator = self.ace.evaluator
        self._bounds_first = True  # ask ACE.bound_reason before evaluating (False: benchmarks' reference)
        self._lean_ic = True  # the Pearson IC only when the reward reads it (False: benchmarks' reference)
        self.found = FoundAlphas(cfg.found_capacity)
        self.pool = self._build_pool(alpha_pool)
        self._seen: dict[str, str] = {}  # signal fingerprint -> first alpha id (repeat_penalty)
        self._mask_dtype = np.dtype(cfg.mask_dtype)
        doc_days, horizon, warmup = cfg.doc_days, cfg.horizon, cfg.warmup

        # ---- documents
        self.documents: EmbeddingTable | None = None
        if document_embeddings is not None:
            self.documents = EmbeddingTable.coerce(document_embeddings)
            if document_dim is not None and int(document_dim) != self.documents.dim:
                raise SettingsError(
                    f"document_dim={document_dim} but the embedding table has vectors of size "
                    f"{self.documents.dim}"
                )
            self.document_dim = self.documents.dim
            doc_low, doc_high = self.documents.low.copy(), self.documents.high.copy()
            flat = doc_low == doc_high  # a component that is 0 in every vector: give it a non-empty range
            doc_low[flat] -= 1.0
            doc_high[flat] += 1.0
            self.doc_days, self.horizon, self.warmup = doc_days, horizon, warmup
            # fail now (not at the first reset) if the train split cannot hold the windows
            sample_window(np.random.default_rng(0), self.train, doc_days=self.doc_days,
                          horizon=self.horizon, warmup=self.warmup)
        else:
            self.document_dim = DEFAULT_DOCUMENT_DIM if document_dim is None else _int(
                "document_dim", document_dim, low=1)
            doc_low = np.full(self.document_dim, -1.0, dtype=np.float32)  # the vector stays zero
            doc_high = np.full(self.document_dim, 1.0, dtype=np.float32)
            self.doc_days, self.horizon, self.warmup = doc_days, horizon, warmup

        n = len(self.codebook)
        self.action_space = spaces.Discrete(n)
        self.observation_space = spaces.Dict(
            {
                "tokens": spaces.Box(0, n - 1, shape=(self.max_len,), dtype=np.int64),
                "action_mask": (spaces.MultiBinary(n) if self._mask_dtype == np.int8
                                else spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)),
                "document": spaces.Box(doc_low, doc_high, shape=(self.document_dim,), dtype=np.float32),
                "position": spaces.Box(0, self.max_len, shape=(1,), dtype=np.int64),
                "stack_depth": spaces.Box(0, self.max_len, shape=(1,), dtype=np.int64),
            }
        )

        # ---- episode state (set by reset)
        self._state: Any = None
        self._tokens = np.zeros(self.max_len, dtype=np.int64)
        self._mask = np.zeros(n, dtype=bool)
        self._document = np.zeros(self.document_dim, dtype=np.float32)
        self._window: EpisodeWindow | None = None
        self._episode_info: dict[str, Any] = {}
        self._finished = True
        self._last_text = ""

    # ------------------------------------------------------------------ pool
    def _build_pool(self, pool: Any) -> Any:  # ``alpha_pool=``
        """The alpha pool of ``reward="pool"``: the one given (shared by in-process environments), or a
        new one on this panel with ``config.pool`` (one pool per environment: per worker process)."""
        from alpha_env.pool import AlphaPool

        if pool is not None:
            if not isinstance(pool, AlphaPool):
                raise SettingsError(f"pool must be an AlphaPool, got {type(pool).__name__}")
            if pool.shape != (self.panel.n_dates, len(self.panel.tickers)):
                raise SettingsError(f"the pool was built on a {pool.shape} panel, the env's is "
                                    f"{(self.panel.n_dates, len(self.panel.tickers))}")
            return pool
        if self.reward_name != POOL_REWARD:
            return None
        from alpha_env.ace.pools import new_pool

        return new_pool(self.ace, self.config.pool)

    # ------------------------------------------------------------------ vocabulary
    def _build_vocabulary(self, vocabulary: Any) -> np.ndarray:
        """The agent vocabulary as a ``(n,)`` bool array, restricted to what the panel can evaluate."""
        from alpha_env.grammar import Field, Group, Window
        from alpha_env.grammar.codebook import Codebook

        book = self.codebook
        n = len(book)
        if vocabulary is None:
            vocab = np.array(book.agent_vocabulary, dtype=bool)
        elif isinstance(vocabulary, np.ndarray) and vocabulary.dtype == bool:
            if vocabulary.shape != (n,):
                raise SettingsError(f"a vocabulary mask must have shape ({n},), got {vocabulary.shape}")
            vocab = vocabulary.copy()
        elif isinstance(vocabulary, Iterable) and not isinstance(vocabulary, str | bytes | Mapping):
            vocab = np.zeros(n, dtype=bool)
            for item in vocabulary:
                try:
                    vocab[int(item) if isinstance(item, int | np.integer) else book.id(item)] = True
                except (ExpressionError, IndexError) as exc:
                    raise SettingsError(
                        f"vocabulary: {item!r} is not a token of the codebook ({exc})") from None
        else:
            raise SettingsError("vocabulary must be a bool mask, an iterable of ids or token texts, or None")
        vocab[[Codebook.PAD, Codebook.BOS]] = False
        vocab[Codebook.END] = True
        groups = set(self.panel.group_names)
        for i, token in enumerate(book.tokens):
            if not vocab[i]:
                continue
            if isinstance(token, Field) and not self.panel.has_field(token.name):
                vocab[i] = False
            elif isinstance(token, Group) and token.name not in groups:
                vocab[i] = False
            elif isinstance(token, Window) and token.days > self.max_window:
                vocab[i] = False
        if not any(vocab[i] for i, t in enumerate(book.tokens) if isinstance(t, Field)):
            raise SettingsError(
                "the vocabulary holds no field that the panel has: no expression can be written")
        return vocab

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an empty expression (document mode: draw the decision date from ``self.np_random``).

        Options:
            ``decision_date``: (document mode) use this trading date instead of drawing one; it must leave
            the same room in the train split as a drawn one.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        self._state = self._grammar_state_cls(self.codebook, self.max_len, allowed=self.vocabulary,
                                              refuse_degenerate=self.refuse_degenerate)
        self._tokens = np.zeros(self.max_len, dtype=np.int64)
        self._finished = False
        self._episode_info = {}
        self._document = np.zeros(self.document_dim, dtype=np.float32)
        self._window = None
        if self.documents is not None:
            self._window = self._draw_window(options.pop("decision_date", None))
            dates, w = self.panel.dates, self._window
            vec, count = self.documents.window_mean(dates[w.doc_start], dates[w.decision])
            low, high = self.observation_space["document"].low, self.observation_space["document"].high
            self._document = np.clip(vec.astype(np.float32), low, high)
            self._episode_info = {
                "decision_date": str(dates[w.decision]),
                "document_window": (str(dates[w.doc_start]), str(dates[w.decision])),
                "n_documents": int(count),
                "reward_window": (str(dates[w.reward_start]), str(dates[w.reward_stop - 1])),
            }
        if options:
            raise SettingsError(f"unknown reset option(s): {sorted(options)}")
        self._update_mask()
        return self._observation(), self._info()

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        """Append one token; ``END`` ends the episode with the backtest reward."""
        if self._state is None or self._finished:
            raise ResetNeeded("the episode has ended (or never started): call reset() first")
        try:
            a = int(np.asarray(action).reshape(()))
        except (TypeError, ValueError, OverflowError):  # not one number, NaN or ±inf
            a = -1
        if not (0 <= a < len(self.codebook)) or not self._mask[a]:
            self._finished = True
            info = self._info()
            info.update(reason="invalid_action", invalid_action=a, why=self._why_invalid(a),
                        expression=None, alpha_id=None)
            return self._observation(), float(self.invalid_action_penalty), True, False, info
        self._state.push(a)
        if a == self.codebook.END:
            self._finished = True
            self._update_mask()
            reward, end_info = self._finish()
            info = self._info()
            info.update(end_info)
            return self._observation(), reward, True, False, info
        self._tokens[self._state.length - 1] = a
        self._update_mask()
        if not self._mask.any():  # cannot happen with the completability mask; reported, never hidden
            self._finished = True
            info = self._info()
            info.update(reason="length_limit", expression=None, alpha_id=None)
            return self._observation(), 0.0, False, True, info
        return self._observation(), 0.0, False, False, self._info()

    def action_masks(self) -> np.ndarray:
        """``(n,)`` bool array of the ids allowed next (sb3-contrib's ``MaskablePPO`` reads it)."""
        return self._mask.copy()

    def render(self) -> str | None:
        """The stack written so far (``ansi``: returned; ``human``: printed)."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'human'")
            return None
        text = self.stack_text()
        if self.render_mode == "ansi":
            return text + "\n"
        print(text)
        return None

    def close(self) -> None:
        """Close the store when the environment opened it (safe to call twice)."""
        if self._owns_store and self.store is not None:
            close = getattr(self.store, "close", None)
            if close is not None:
                close()
            self.store = None

    # ------------------------------------------------------------------ helpers
    @property
    def written(self) -> tuple[int, ...]:
        """Action ids written in the current episode (``END`` excluded)."""
        if self._state is None:
            return ()
        return tuple(int(i) for i in self._tokens[: self._state.length])

    def stack_text(self) -> str:
        """Token texts written so far (``close 5d delta``), plus the finished expression if any."""
        if self._state is None:
            return "(not started)"
        texts = [self.codebook.texts[i] for i in self.written]
        text = " ".join(texts) if texts else "(empty)"
        if self._last_text and self._finished:
            text += f"  =>  {self._last_text}"
        return text

    def _draw_window(self, decision_date: Any) -> EpisodeWindow:
        if decision_date is None:
            return sample_window(self.np_random, self.train, doc_days=self.doc_days,
                                 horizon=self.horizon, warmup=self.warmup)
        i = self.panel.date_index(decision_date)
        start, stop = self.train.start or 0, self.train.stop
        low, high = start + max(self.doc_days, self.warmup), stop - self.horizon - 1
        if not low <= i <= high:
            dates = self.panel.dates
            raise SettingsError(
                f"decision_date {dates[i]} is outside the allowed range {dates[low]} .. {dates[high]} of the "
                "train split"
            )
        return EpisodeWindow(decision=i, doc_start=i - self.doc_days, reward_start=i + 1,
                             reward_stop=i + 1 + self.horizon)

    def _update_mask(self) -> None:
        self._mask = np.array(self._state.mask(), dtype=bool)

    def _why_invalid(self, a: int) -> str:
        if not 0 <= a < len(self.codebook):
            return f"action {a} is outside Discrete({len(self.codebook)})"
        if not self.vocabulary[a]:
            return f"token {self.codebook.texts[a]!r} is not in the agent vocabulary of this environment"
        return self._state.why_not(a) or "not allowed"

    def _observation(self) -> dict[str, np.ndarray]:
        depth = self._state.depth if self._state is not None else 0
        length = self._state.length if self._state is not None else 0
        return {
            "tokens": self._tokens.copy(),
            "action_mask": self._mask.astype(self._mask_dtype),
            "document": self._document.copy(),
            "position": np.array([length], dtype=np.int64),
            "stack_depth": np.array([depth], dtype=np.int64),
        }

    def _info(self) -> dict[str, Any]:
        info = {"action_mask": self._mask.copy()}
        for key, value in self._episode_info.items():
            info[key] = tuple(value) if isinstance(value, tuple) else value
        return info

    def _window_slice(self) -> tuple[slice, str]:
        if self._window is None:
            return self.train, "the train split"
        return self._window.reward_slice, "the episode's reward window"

    def _score_rows(self, window: slice, expr: Any) -> int | None:
        """How many leading dates the reward of ``expr`` (a tree) reads (``None``: all of them): the reward
        window's (:meth:`ACE.window_rows`), the train split's for the repeat fingerprint, the pool's
        :attr:`~alpha_env.pool.AlphaPool.signal_rows` (an admitted alpha is then evaluated in full). Every
        date when the store will keep the alpha's full simulation (its id is not stored yet) or the
        correlation penalty compares PnL."""
        if self.correlation_penalty > 0 or (self.store is not None
                                             and self.ace.alpha_id(expr) not in self.store):
            return None
        rows = self.ace.window_rows(window)
        if self.pool is not None and self.reward_name == POOL_REWARD:
            rows = max(rows, self.pool.signal_rows)
        elif self.config.repeat_penalty is not None:
            rows = max(rows, self.train.indices(self.ace.panel.n_dates)[1])
        return rows  # ACE.score caps it at the panel's dates

    def _finish(self) -> tuple[float, dict[str, Any]]:
        """Score the finished expression on the reward window; returns the reward and the end info."""
        from alpha_env.grammar import canonical

        expr = self._state.expression()
        text = canonical(expr)
        self._last_text = text
        info: dict[str, Any] = {"expression": text, "alpha_id": None, "metrics": {}, "raw_reward": None,
                                "max_correlation": 0.0, "degenerate_reason": None}
        window, where = self._window_slice()
        rows = self._score_rows(window, expr)
        try:
            # decided by the fields' ranges alone (vwap > adv10, sign(volume)): known without evaluating
            reason = self.ace.bound_reason(expr, rows=rows) if self._bounds_first else None
            if reason is not None:
                info.update(alpha_id=self.ace.alpha_id(expr), reason="degenerate", degenerate_reason=reason)
                return float(self.degenerate_penalty), info
            score = self.ace.score(expr, window, rows=rows, ic=self._metric == "ic" or not self._lean_ic)
        except AlphaEnvError as exc:
            info.update(reason="degenerate", degenerate_reason=f"evaluation failed: {exc}")
            return float(self.degenerate_penalty), info
        info["alpha_id"] = score.alpha_id
        metrics = dict(score.metrics)
        info["metrics"] = metrics
        reason = score.degenerate_reason or window_degenerate_reason(metrics, self._metric, where)
        if reason is not None:
            info.update(reason="degenerate", degenerate_reason=reason)
            return float(self.degenerate_penalty), info
        value = float(metrics[self._metric])
        if self.config.repeat_penalty is not None and self.reward_name != POOL_REWARD:
            from alpha_env.pool import signal_fingerprint

            key = signal_fingerprint(score.signal, self.train)
            if key in self._seen:
                info.update(reason="repeat", raw_reward=value, repeat_of=self._seen[key])
                return float(self.config.repeat_penalty), info
            self._seen[key] = score.alpha_id
        if self.pool is not None and self.reward_name == POOL_REWARD:
            from alpha_env.ace.pools import offer_score

            offer = offer_score(self.ace, self.pool, score)
            value = float(offer.gain) * self.config.reward_scale
            info["pool"] = {"accepted": bool(offer.accepted), "replaced": list(offer.replaced),
                            "reason": offer.reason, "gain": float(offer.gain),
                            "objective": float(self.pool.objective), "size": len(self.pool)}
        reward = value
        if self.correlation_penalty > 0:
            corr, corr_id = self.found.max_correlation(score.pnl, window)
            reward = value - self.correlation_penalty * corr
            info.update(max_correlation=corr, most_correlated=corr_id)
            self.found.add(score.alpha_id, score.pnl)
        if self.store is not None and score.alpha_id not in self.store:
            # one row per alpha: an id already stored is not simulated in full again, and a signal that
            # repeats a stored alpha's (same ranks on train) adds no row (the store checks its fingerprint)
            from alpha_env.pool import signal_fingerprint

            fingerprint = signal_fingerprint(score.signal, self.train)
            self.store.save(self.ace.complete(score), fingerprint=fingerprint)
        info.update(reason="complete", raw_reward=value)
        if not math.isfinite(reward):  # window_degenerate_reason rules this out; kept as a guard
            info.update(reason="degenerate", degenerate_reason="non-finite reward")
            return float(self.degenerate_penalty), info
        return float(reward), info


def _env_settings(base: EnvSettings | None, options: Mapping[str, Any]) -> EnvSettings:
    """``base`` (or the defaults) with the keyword ``options`` replaced; unknown options are named."""
    if base is not None and not isinstance(base, EnvSettings):
        raise SettingsError(f"env_settings must be EnvSettings, got {type(base).__name__}")
    from alpha_env.options import build_from_namespace, option_names

    names = option_names(EnvSettings)
    unknown = sorted(set(options) - names)
    if unknown:
        raise SettingsError(f"unknown environment option(s): {', '.join(unknown)} "
                            f"(options: {', '.join(sorted(names))})")
    if not options:
        return base or EnvSettings()
    return build_from_namespace(EnvSettings, options, base or EnvSettings())
