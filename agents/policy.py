"""SB3 actor-critic policies whose actor is the pretrained :class:`encoders.AlphaDecoder`.

The actor's action logits are the decoder's next-token logits at the current position of the expression,
with every token the observation's ``action_mask`` forbids set to :data:`MASKED_LOGIT` (probability
exactly 0 after the softmax), so even plain ``PPO`` never samples an invalid token. The critic is a small
MLP value head on ``[decoder state at the current position, document vector, position / max_len]``.

Documents: when the decoder was built with ``doc_dim > 0`` the observation's ``document`` vector becomes
its cross-attention memory (``AlphaDecoder.memory``); an all-zero vector (no news) hides the document slots,
leaving the null memory the decoder was pretrained with, so a run without documents sees exactly the
stage-1 actor.

Alpha encoder and fusion (``alpha_encoder_config`` given): a frozen pretrained
:class:`encoders.AlphaEncoder` (``stack``) or :class:`encoders.AlphaTreeEncoder` (``tree``: node convolution
over the forest of the partial stack) encodes the partial AlphaStack (the observation's ``tokens``, BOS
prepended); an :class:`encoders.Fusion` (``concat``, ``cross_attention`` with the alpha tokens as queries
over the document's key/value slots, or ``gated``) combines its token states with the document vector
into one vector of the document's width, which takes the document's place in the decoder's memory: the
decoder cross-attends to the fused memory. The fusion learns with PPO (full rate); the alpha encoder
stays frozen. With the alpha encoder the document slots are never hidden (the fused vector carries the
expression even without news).

Two classes share one implementation (:class:`_DecoderPolicyMixin`):

* :class:`DecoderActorCriticPolicy` — an SB3 ``ActorCriticPolicy`` for ``PPO`` / ``A2C``;
* :class:`MaskableDecoderActorCriticPolicy` — an sb3-contrib ``MaskableActorCriticPolicy`` for
  ``MaskablePPO`` (the algorithm's ``action_masks`` are AND-ed with the observation's mask).

Policy keyword arguments (``policy_kwargs``; all plain values, so saved models reload):

===================== ========================================================================
``decoder_config``    dict of :class:`encoders.AlphaDecoderConfig` (architecture; required)
``init_checkpoint``   stage-1 checkpoint loaded as the initial actor (``None``: random init)
``init_seed``         seed of the random initialization (ablation ``--actor-init random``)
``value_hidden``      width of the value head's hidden layer (64)
``critic_grad``       let the value loss train the decoder too (False: the critic reads a detached
                      decoder state, so value errors never disturb the pretrained actor)
``layer_lr_decay``    discriminative learning rates: each decoder layer group below the top learns
                      at this multiple of the one above (1.0 = off; ULMFiT uses 1/2.6); the
                      document pathway (untrained in stage 1) always learns at the full rate
``kl_coef``           weight of KL(π ‖ π₀) to the frozen initial actor (0 = off); needs ``ent_coef``
``ent_coef``          the algorithm's entropy coefficient (the KL term is folded into the entropy
                      term the algorithm weighs by it: ``ent_coef·H − kl_coef·KL``)
``alpha_encoder``     ``"none"`` (default), ``"stack"`` (the AlphaEncoder over the partial stack) or
                      ``"tree"`` (the AlphaTreeEncoder over the partial stack's forest)
``alpha_encoder_config`` dict of :class:`encoders.AlphaEncoderConfig` (``stack``) or
                      :class:`encoders.AlphaTreeEncoderConfig` (``tree``)
``alpha_checkpoint``  pretrained encoder checkpoint loaded into it (``None``: the weights come
                      from a saved model, as when an agent is reloaded)
``fusion``            ``concat``, ``cross_attention`` or ``gated`` (with an alpha encoder)
===================== ========================================================================
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from agents.observation import DecoderInputs, read_observation
from agents.settings import ALPHA_ENCODERS
from alpha_env.errors import SettingsError
from encoders.decoder import bit_rows, prefix_chains
from encoders.finetune import ScaledAdam, discriminative_scales
from encoders.settings import FUSION_KINDS

__all__ = [
    "MASKED_LOGIT",
    "DecoderActorCriticPolicy",
    "MaskableDecoderActorCriticPolicy",
    "masked_logits",
    "build_decoder",
    "build_alpha_encoder",
    "ALPHA_ENCODER_KINDS",
]

ALPHA_ENCODER_KINDS = {"stack": "alpha_encoder", "tree": "alpha_tree_encoder"}
"""Checkpoint kind (:data:`encoders.MODEL_KINDS`) of each alpha encoder option."""

MASKED_LOGIT = -1e8
"""Logit given to forbidden tokens (as sb3-contrib does): its softmax probability is exactly 0.0."""


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``logits (B, V)`` with forbidden entries (``mask`` False) set to :data:`MASKED_LOGIT`.

    A row whose mask allows nothing (only a finished episode's observation, never sampled from) is left
    unmasked so that the distribution stays finite.
    """
    mask = mask.to(device=logits.device, dtype=torch.bool)
    any_allowed = mask.any(dim=1, keepdim=True)
    keep = mask | ~any_allowed
    return logits.masked_fill(~keep, MASKED_LOGIT)


def build_decoder(
    decoder_config: dict[str, Any], init_checkpoint: str | None, init_seed: int | None
) -> nn.Module:
    """The actor's decoder: loaded from ``init_checkpoint`` or freshly initialized from ``decoder_config``.

    A checkpoint must match ``decoder_config``'s codebook version and architecture; a decoder with
    another document width is an error, named here.
    """
    from encoders import AlphaDecoder, AlphaDecoderConfig, load_checkpoint

    config = AlphaDecoderConfig(**decoder_config)
    if init_checkpoint is None:
        return AlphaDecoder(config, seed=init_seed)
    loaded = load_checkpoint(init_checkpoint, config.codebook_version, kind="alpha_decoder").model
    if loaded.config != config:
        saved = loaded.config.to_dict()
        diff = {k: (v, getattr(config, k)) for k, v in saved.items() if getattr(config, k) != v}
        raise SettingsError(
            f"checkpoint {init_checkpoint} does not match decoder_config: {diff} (saved, wanted)"
        )
    return loaded


def build_alpha_encoder(
    alpha_encoder_config: dict[str, Any], alpha_checkpoint: str | None, kind: str = "stack"
) -> nn.Module:
    """The frozen alpha encoder of option ``kind`` (``stack`` or ``tree``): loaded from
    ``alpha_checkpoint`` (which must hold that kind and match the config) or built from
    ``alpha_encoder_config`` (its weights then come from a saved model's state dict)."""
    from encoders import MODEL_KINDS, load_checkpoint

    if kind not in ALPHA_ENCODER_KINDS:
        raise SettingsError(f"alpha encoder must be one of {tuple(ALPHA_ENCODER_KINDS)}, got {kind!r}")
    model_class, config_class = MODEL_KINDS[ALPHA_ENCODER_KINDS[kind]]
    config = config_class(**alpha_encoder_config)
    if alpha_checkpoint is None:
        encoder = model_class(config, seed=0)
    else:
        encoder = load_checkpoint(alpha_checkpoint, config.codebook_version,
                                  kind=ALPHA_ENCODER_KINDS[kind]).model
        if encoder.config != config:
            saved = encoder.config.to_dict()
            diff = {k: (v, getattr(config, k)) for k, v in saved.items() if getattr(config, k) != v}
            raise SettingsError(
                f"alpha encoder checkpoint {alpha_checkpoint} does not match alpha_encoder_config: {diff} "
                "(saved, wanted)"
            )
    encoder.eval()
    encoder.requires_grad_(False)
    return encoder


def _heads_for(width: int) -> int:
    return next(h for h in (4, 2, 1) if width % h == 0)


class _DecoderPolicyMixin:
    """The shared implementation of the two decoder policies (see the module docstring)."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Any,
        *args: Any,
        decoder_config: dict[str, Any] | None = None,
        init_checkpoint: str | None = None,
        init_seed: int | None = 0,
        value_hidden: int = 64,
        critic_grad: bool = False,
        layer_lr_decay: float = 1.0,
        kl_coef: float = 0.0,
        ent_coef: float = 0.0,
        alpha_encoder: str = "none",
        alpha_encoder_config: dict[str, Any] | None = None,
        alpha_checkpoint: str | None = None,
        fusion: str = "concat",
        **kwargs: Any,
    ):
        if decoder_config is None:
            raise SettingsError("the decoder policy needs decoder_config (an AlphaDecoderConfig as a dict)")
        if not isinstance(observation_space, spaces.Dict) or not {"tokens", "action_mask"} <= set(
            observation_space.spaces
        ):
            raise SettingsError("the decoder policy needs a Dict observation with 'tokens' and 'action_mask'")
        if not isinstance(action_space, spaces.Discrete):
            raise SettingsError(f"the decoder policy needs a Discrete action space, got {action_space}")
        if kl_coef < 0:
            raise SettingsError(f"kl_coef must be >= 0, got {kl_coef}")
        if kl_coef > 0 and not ent_coef > 0:
            raise SettingsError(
                "kl_coef > 0 needs ent_coef > 0: the KL penalty is folded into the algorithm's entropy term"
            )
        if alpha_encoder not in ALPHA_ENCODERS:
            raise SettingsError(f"alpha_encoder must be one of {ALPHA_ENCODERS}, got {alpha_encoder!r}")
        if alpha_encoder != "none" and alpha_encoder_config is None:
            raise SettingsError(f"alpha_encoder={alpha_encoder!r} needs alpha_encoder_config")
        if fusion not in FUSION_KINDS:
            raise SettingsError(f"fusion must be one of {FUSION_KINDS}, got {fusion!r}")
        self.text_encoder: nn.Module | None = None  # attach_text_encoder (end-to-end stage 2)
        self.alpha_encoder_kind = alpha_encoder
        self.alpha_encoder_config = None if alpha_encoder_config is None else dict(alpha_encoder_config)
        self.alpha_checkpoint = None if alpha_checkpoint is None else str(alpha_checkpoint)
        self.fusion_kind = fusion
        self.decoder_config = dict(decoder_config)
        self.init_checkpoint = None if init_checkpoint is None else str(init_checkpoint)
        self.init_seed = init_seed
        self.value_hidden = int(value_hidden)
        self.critic_grad = bool(critic_grad)
        self.layer_lr_decay = float(layer_lr_decay)
        self.kl_coef = float(kl_coef)
        self.ent_coef = float(ent_coef)
        self._stats: dict[str, list[float]] = {"kl_to_init": [], "policy_entropy": []}
        #: PPO's update reads the rows of a minibatch whose written prefix another row extends from that
        #: row's causal pass (:meth:`_chains`, ``AlphaDecoder.next_token(chains=...)``): the same numbers,
        #: fewer rows; ``False`` computes every row alone (for comparisons, ``benchmarks/bench_ppo.py``)
        self.share_prefixes = True
        kwargs.setdefault("ortho_init", False)
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)  # type: ignore[call-arg]

    # ------------------------------------------------------------------ construction
    def _build(self, lr_schedule: Any) -> None:  # type: ignore[override]
        n_actions = int(self.action_space.n)  # type: ignore[attr-defined]
        self.decoder = build_decoder(self.decoder_config, self.init_checkpoint, self.init_seed)
        cfg = self.decoder.config
        if cfg.vocab_size != n_actions:
            raise SettingsError(
                f"the decoder has {cfg.vocab_size} tokens but the action space has {n_actions} actions "
                "(another codebook?)"
            )
        obs_spaces = self.observation_space.spaces  # type: ignore[attr-defined]
        max_len = int(obs_spaces["tokens"].shape[0])
        if max_len > cfg.max_len:
            raise SettingsError(
                f"the environment writes up to {max_len} tokens, the decoder only {cfg.max_len}"
            )
        self.document_dim = int(obs_spaces["document"].shape[0]) if "document" in obs_spaces else 0
        if cfg.doc_dim not in (0, self.document_dim):
            raise SettingsError(
                f"the decoder reads documents of width {cfg.doc_dim}, "
                f"the environment gives {self.document_dim}"
            )
        self.bos_id = int(cfg.bos_id)
        self.alpha_encoder = None
        self.fusion = None
        if self.alpha_encoder_kind != "none":
            from encoders import Fusion

            if not cfg.doc_dim:
                raise SettingsError(
                    "the fused alpha/document vector takes the document's place in the decoder's memory: "
                    "the decoder needs doc_dim > 0 (it was built with doc_dim=0)"
                )
            self.alpha_encoder = build_alpha_encoder(self.alpha_encoder_config, self.alpha_checkpoint,
                                                     self.alpha_encoder_kind)
            enc_cfg = self.alpha_encoder.config
            if enc_cfg.vocab_size != n_actions or enc_cfg.codebook_version != cfg.codebook_version:
                raise SettingsError(
                    f"the alpha encoder was made for codebook {enc_cfg.codebook_version!r} "
                    f"({enc_cfg.vocab_size} tokens), the decoder for {cfg.codebook_version!r} "
                    f"({cfg.vocab_size} tokens)"
                )
            if enc_cfg.max_len < max_len:
                raise SettingsError(
                    f"the environment writes up to {max_len} tokens, "
                    f"the alpha encoder reads {enc_cfg.max_len}"
                )
            self.fusion = Fusion(self.fusion_kind, enc_cfg.hidden_size, self.document_dim, cfg.doc_dim,
                                 num_heads=_heads_for(cfg.doc_dim))
        d_model = int(cfg.d_model)
        self.value_net = nn.Sequential(
            nn.Linear(d_model + self.document_dim + 1, self.value_hidden),
            nn.Tanh(),
            nn.Linear(self.value_hidden, 1),
        )
        self.max_len = max_len
        self.reference = None
        self.reference_fusion = None
        if self.kl_coef > 0:
            self.reference = copy.deepcopy(self.decoder)
            for p in self.reference.parameters():
                p.requires_grad_(False)
            self.reference.eval()
            if self.fusion is not None:
                self.reference_fusion = copy.deepcopy(self.fusion)
                self.reference_fusion.requires_grad_(False)
        self.optimizer = ScaledAdam(self._param_groups(), lr=lr_schedule(1), **self.optimizer_kwargs)
        self.train(self.training)

    def _param_groups(self) -> list[dict[str, Any]]:
        groups = self.decoder.layer_groups()
        scales = discriminative_scales(len(groups), self.layer_lr_decay)
        out: list[dict[str, Any]] = []
        # The document pathway (projection of the document vector into memory slots, and its norm) is new
        # in stage 2: the stage-1 corpus has no documents, so it was never trained. It learns at the full
        # rate; in the bottom group with the embeddings it would learn at layer_lr_decay**(groups - 1)
        # (about 6 % with the defaults), too slowly for the actor to start reading the news.
        document = [p for m in (self.decoder.doc_projection, self.decoder.doc_slot_norm) if m is not None
                    for p in m.parameters()]
        seen: set[int] = {id(p) for p in document}
        for index, (params, scale) in enumerate(zip(groups, scales)):
            unique = [p for p in params if id(p) not in seen]
            seen.update(id(p) for p in unique)
            if unique:
                out.append({"params": unique, "lr_scale": scale, "name": f"decoder_group_{index}"})
        rest = [p for p in self.decoder.parameters() if id(p) not in seen]
        if rest:
            out.append({"params": rest, "lr_scale": 1.0, "name": "decoder_other"})
        if document:
            out.append({"params": document, "lr_scale": 1.0, "name": "document_pathway"})
        if self.fusion is not None:
            out.append({"params": list(self.fusion.parameters()), "lr_scale": 1.0, "name": "fusion"})
        out.append({"params": list(self.value_net.parameters()), "lr_scale": 1.0, "name": "value_head"})
        return out

    def attach_text_encoder(self, encoder: nn.Module) -> None:
        """End-to-end stage 2 (``--finetune-doc-encoder``): embed each observation's news window with
        ``encoder`` (an :class:`encoders.doc_finetune.TrainableTextEncoder`) instead of reading the
        precomputed ``document`` vector, and train its top layer groups with the policy's optimizer
        (their ``lr_scale``; gradual unfreezing after every update). The observation needs
        ``document_key`` (:class:`encoders.doc_finetune.DocumentKeyObservation`).

        Raises:
            SettingsError: the encoder's width is not the environment's document width, or the
                observation has no ``document_key``.
        """
        if "document_key" not in self.observation_space.spaces:  # type: ignore[attr-defined]
            raise SettingsError("fine-tuning the document encoder needs the document_key observation "
                                "(wrap the env in encoders.doc_finetune.DocumentKeyObservation)")
        if int(encoder.hidden_size) != self.document_dim:
            raise SettingsError(f"the document encoder is {encoder.hidden_size} wide, the environment's "
                                f"document vectors {self.document_dim}")
        self.text_encoder = encoder
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer = ScaledAdam(self._param_groups() + encoder.param_groups(), lr=lr,
                                    **self.optimizer_kwargs)
        self.optimizer.register_step_post_hook(lambda optimizer, args, kwargs: encoder.after_update())

    def decoder_layer_groups(self) -> list[list[nn.Parameter]]:
        """The decoder's parameter groups bottom-up (gradual unfreezing works on these)."""
        return self.decoder.layer_groups()

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data.update(
            decoder_config=self.decoder_config,
            init_checkpoint=self.init_checkpoint,
            init_seed=self.init_seed,
            value_hidden=self.value_hidden,
            critic_grad=self.critic_grad,
            layer_lr_decay=self.layer_lr_decay,
            kl_coef=self.kl_coef,
            ent_coef=self.ent_coef,
            alpha_encoder=self.alpha_encoder_kind,
            alpha_encoder_config=self.alpha_encoder_config,
            alpha_checkpoint=self.alpha_checkpoint,
            fusion=self.fusion_kind,
        )
        return data

    # ------------------------------------------------------------------ core
    def _inputs(self, obs: Any) -> DecoderInputs:
        inputs = read_observation(obs, self.bos_id)
        if self.text_encoder is None:
            return inputs
        document = self.text_encoder(obs["document_key"]).to(inputs.document.dtype)
        return DecoderInputs(inputs.ids, inputs.position, inputs.mask, document)

    def _fused_document(self, fusion: nn.Module, inputs: DecoderInputs) -> torch.Tensor:
        """``(B, doc_dim)``: the fusion of the alpha encoding of the written prefix and the document."""
        width = max(int(inputs.position.max()) if inputs.position.numel() else 0, 0) + 1
        encoding = self.alpha_encoder(inputs.ids[:, :width])  # BOS + prefix, PAD after the position
        return fusion(encoding.sequence, inputs.document, encoding.mask)

    def _chains(self, inputs: DecoderInputs) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The chains of rows whose prefix another row extends under the same document
        (:func:`encoders.decoder.prefix_chains`), for every decoder pass over ``inputs``; ``None`` with an
        alpha encoder, whose memory differs with the prefix (nothing to share)."""
        if self.fusion is not None or inputs.ids.shape[0] < 2:
            return None
        used = int(inputs.position.max()) + 1
        groups = bit_rows(inputs.document) if inputs.document.shape[1] else None  # memory = f(document)
        return prefix_chains(inputs.ids[:, :used], inputs.position, groups)

    def _run(
        self, decoder: nn.Module, inputs: DecoderInputs, fusion: nn.Module | None = None,
        chains: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Unmasked next-token logits ``(B, V)`` and the state ``(B, d_model)`` at the current position;
        ``chains`` (:meth:`_chains`): rows whose prefix another row extends are read from that row's causal
        pass (``AlphaDecoder.next_token``)."""
        prefix = inputs.ids[:, 1:]
        memory = None
        fusion = self.fusion if fusion is None else fusion
        if fusion is not None:
            memory = decoder.memory(doc=self._fused_document(fusion, inputs))
        elif decoder.config.doc_dim:
            memory = decoder.memory(doc=inputs.document)
            empty = ~(inputs.document != 0).any(dim=1)
            if bool(empty.any()):  # no news: the doc slots are hidden, only the null memory remains
                mask = memory.mask.clone()
                mask[empty, 1 : 1 + decoder.config.doc_slots] = False
                memory = type(memory)(memory.states, mask)
        return decoder.next_token(prefix, inputs.position, memory, chains=chains)

    def _logits_and_values(
        self, obs: Any, action_masks: Any = None, share: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, DecoderInputs]:
        inputs = self._inputs(obs)
        return self._scores(inputs, action_masks, self._chains(inputs) if share else None)

    def _scores(
        self, inputs: DecoderInputs, action_masks: Any, chains: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor, DecoderInputs]:
        """Masked logits ``(B, V)``, values ``(B, 1)`` and the inputs with the combined mask."""
        logits, hidden = self._run(self.decoder, inputs, chains=chains)
        mask = inputs.mask
        if action_masks is not None:
            extra = torch.as_tensor(np.asarray(action_masks), device=mask.device).reshape(mask.shape).bool()
            mask = mask & extra
        logits = masked_logits(logits, mask)
        values = self._value_from(hidden, inputs)
        return logits, values, DecoderInputs(inputs.ids, inputs.position, mask, inputs.document)

    def _value_from(self, hidden: torch.Tensor, inputs: DecoderInputs) -> torch.Tensor:
        if not self.critic_grad:
            hidden = hidden.detach()
        position = inputs.position.float().unsqueeze(1) / float(self.max_len)
        return self.value_net(torch.cat([hidden, inputs.document, position], dim=1))

    def _distribution(self, logits: torch.Tensor) -> Distribution:
        return self.action_dist.proba_distribution(action_logits=logits)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ SB3 API
    def forward(self, obs: Any, deterministic: bool = False, action_masks: Any = None):  # type: ignore[override]
        """Actions ``(B,)``, values ``(B, 1)`` and log-probabilities ``(B,)`` of the sampled actions."""
        logits, values, _ = self._logits_and_values(obs, action_masks)
        distribution = self._distribution(logits)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob  # type: ignore[attr-defined]

    def evaluate_actions(self, obs: Any, actions: torch.Tensor, action_masks: Any = None):  # type: ignore[override]
        """Values, log-probabilities and the entropy term of ``actions`` (PPO's update).

        With ``kl_coef > 0`` the returned "entropy" is ``H − (kl_coef / ent_coef)·KL(π ‖ π₀)``, so that the
        algorithm's ``ent_coef · entropy`` term becomes ``ent_coef·H − kl_coef·KL``.
        """
        inputs = self._inputs(obs)
        chains = self._chains(inputs) if self.share_prefixes else None  # one ordering for both passes
        logits, values, inputs = self._scores(inputs, action_masks, chains)
        distribution = self._distribution(logits)
        log_prob = distribution.log_prob(actions)
        entropy = distribution.entropy()
        self._stats["policy_entropy"].append(float(entropy.mean().detach()))
        if self.reference is not None:
            with torch.no_grad():
                ref_logits = masked_logits(
                    self._run(self.reference, inputs, self.reference_fusion, chains)[0], inputs.mask)
                ref_logp = torch.log_softmax(ref_logits, dim=-1)
            logp = torch.log_softmax(logits, dim=-1)
            kl = (logp.exp() * (logp - ref_logp)).sum(dim=-1)
            self._stats["kl_to_init"].append(float(kl.mean().detach()))
            entropy = entropy - (self.kl_coef / self.ent_coef) * kl
        return values, log_prob, entropy

    def get_distribution(self, obs: Any, action_masks: Any = None) -> Distribution:  # type: ignore[override]
        """The masked next-token distribution for ``obs``."""
        logits, _, _ = self._logits_and_values(obs, action_masks)
        return self._distribution(logits)

    def predict_values(self, obs: Any) -> torch.Tensor:  # type: ignore[override]
        """Values ``(B, 1)`` of ``obs``."""
        inputs = self._inputs(obs)
        _, hidden = self._run(self.decoder, inputs)
        return self._value_from(hidden, inputs)

    def train(self, mode: bool = True) -> Any:
        """Module train/eval switch (SB3's ``set_training_mode`` calls it); the decoders always stay in
        eval mode: no dropout in RL, so the log-probabilities of an update equal those of the rollout that
        sampled the actions."""
        super().train(mode)  # type: ignore[misc]
        decoder = self.__dict__.get("_modules", {}).get("decoder")
        if decoder is not None:
            decoder.eval()
        for name in ("reference", "alpha_encoder", "reference_fusion"):
            module = self.__dict__.get("_modules", {}).get(name)
            if module is not None:
                module.eval()
        return self

    def _predict(
        self, observation: Any, deterministic: bool = False, action_masks: Any = None
    ) -> torch.Tensor:
        return self.get_distribution(observation, action_masks).get_actions(deterministic=deterministic)

    def action_probabilities(self, obs: Any) -> torch.Tensor:
        """``(B, V)`` probabilities of the next token (masked) for an observation batch, without gradients."""
        with torch.no_grad():
            logits, _, _ = self._logits_and_values(obs)
            return torch.softmax(logits, dim=-1)

    def pop_update_stats(self) -> dict[str, float]:
        """Mean KL to the initial actor and mean policy entropy over the updates since the last call."""
        out = {key: float(np.mean(values)) for key, values in self._stats.items() if values}
        for values in self._stats.values():
            values.clear()
        return out


class DecoderActorCriticPolicy(_DecoderPolicyMixin, ActorCriticPolicy):
    """SB3 ``ActorCriticPolicy`` with the AlphaDecoder as actor (for ``PPO`` and ``A2C``)."""


class MaskableDecoderActorCriticPolicy(_DecoderPolicyMixin, MaskableActorCriticPolicy):
    """sb3-contrib ``MaskableActorCriticPolicy`` with the AlphaDecoder as actor (for ``MaskablePPO``)."""
