"""Agents that search alphas: PPO / MaskablePPO with the pretrained AlphaDecoder as actor.

* :mod:`agents.policy` — SB3 policies whose actor is the decoder (masked logits) with a value head;
* :mod:`agents.builders` — :func:`build_agent` / :func:`load_agent` and :class:`FineTuneSettings`;
* :mod:`agents.callbacks` — TensorBoard ``alpha/*`` metrics, hyperparameters, gradual unfreezing;

The fine-tuning schedules (STLR, discriminative rates, ``ScaledAdam``, unfreezing) live in
:mod:`encoders.finetune`.
* :mod:`agents.pretraining` — stage-1 pretraining of the actor with a quality report.

The torch-free searches (GP, random search, selection, the 101-alpha library, the alpha tracker) live in
:mod:`alpha_env.search`. See ``docs/agents.md``. Like ``encoders``, this package imports torch; ``alpha_env``
does not.
"""

try:  # the torch packages are an optional extra; say which one instead of a bare ModuleNotFoundError
    import torch  # noqa: F401
except ImportError:
    raise ImportError("agents needs the optional 'rl' extra: pip install 'alpha-env[rl]'") from None

from agents.builders import ALGORITHMS, FineTuneSettings, build_agent, load_agent, policy_kwargs_for
from agents.callbacks import (
    AlphaMetricsCallback,
    EvaluationBudgetCallback,
    GradualUnfreezeCallback,
    TimeLimitCallback,
    hparams_markdown,
)
from agents.policy import (
    MASKED_LOGIT,
    DecoderActorCriticPolicy,
    MaskableDecoderActorCriticPolicy,
    build_decoder,
    masked_logits,
)
from agents.pretraining import PretrainReport, PretrainSettings, pretrain_actor, sample_quality

__all__ = [
    "ALGORITHMS",
    "AlphaMetricsCallback",
    "DecoderActorCriticPolicy",
    "EvaluationBudgetCallback",
    "FineTuneSettings",
    "GradualUnfreezeCallback",
    "MASKED_LOGIT",
    "MaskableDecoderActorCriticPolicy",
    "PretrainReport",
    "PretrainSettings",
    "TimeLimitCallback",
    "build_agent",
    "build_decoder",
    "hparams_markdown",
    "load_agent",
    "masked_logits",
    "policy_kwargs_for",
    "pretrain_actor",
    "sample_quality",
]
