"""Agents that search alphas: PPO / MaskablePPO with the pretrained AlphaDecoder as actor.

* :mod:`agents.policy` — SB3 policies whose actor is the decoder (masked logits) with a value head;
* :mod:`agents.builders` — :func:`build_agent` / :func:`load_agent` and :class:`FineTuneSettings`;
* :mod:`agents.callbacks` — TensorBoard ``alpha/*`` metrics, hyperparameters, gradual unfreezing;

The fine-tuning schedules (STLR, discriminative rates, ``ScaledAdam``, unfreezing) live in
:mod:`encoders.finetune`.
* :mod:`agents.pretraining` — stage-1 pretraining of the actor with a quality report.

The torch-free searches (GP, random search, selection, the 101-alpha library, the alpha tracker) live in
:mod:`alpha_env.search`. See ``docs/agents.md``. Like ``encoders``, this package needs torch; ``alpha_env``
does not. Its public names load on first use (:func:`alpha_env.lazy.lazy_exports`), so
:mod:`agents.settings` and the job's settings (:class:`agents.job.PPOJobSettings`) parse without importing
torch: an experiment's ``--help`` answers in about a second.
"""

from alpha_env.lazy import lazy_exports, require

require("agents", "torch", extra="rl")  # say which extra is missing instead of a bare ModuleNotFoundError

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "builders": ("ALGORITHMS", "build_agent", "load_agent", "policy_kwargs_for"),
    "callbacks": ("AlphaMetricsCallback", "EvaluationBudgetCallback", "GradualUnfreezeCallback",
                  "TimeLimitCallback", "hparams_markdown"),
    "policy": ("MASKED_LOGIT", "DecoderActorCriticPolicy", "MaskableDecoderActorCriticPolicy",
               "build_decoder", "masked_logits"),
    "pretraining": ("PretrainReport", "PretrainSettings", "pretrain_actor", "sample_quality"),
    "settings": ("ALPHA_ENCODERS", "EncoderSettings", "FineTuneSettings"),
})
