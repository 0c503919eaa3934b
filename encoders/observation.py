"""An encoded observation for any agent: the AlphaStackEnv ``Dict`` observation as one ``Box`` vector.

:class:`EncodedAlphaObservation` wraps :class:`~alpha_env.env.AlphaStackEnv` (possibly already wrapped)
and replaces its observation with one ``float32`` vector, so that agents that only take a ``Box``
(SB3 ``PPO("MlpPolicy")``, sb3-contrib ``MaskablePPO("MlpPolicy")``, ``DQN``, any other library) learn
from the transformer encoding of the partial expression rather than from raw token ids:

============  ============  ==========================================================================
slice         width         values
============  ============  ==========================================================================
alpha         ``H``         frozen pretrained :class:`~encoders.AlphaEncoder` (or node-convolutional
                            :class:`~encoders.AlphaTreeEncoder`) encoding of the written
                            tokens (the partial AlphaStack, BOS prepended): ``"mean"`` = mean of the
                            final token states over BOS and the real tokens (padding excluded);
                            ``"cls"`` = the pooled [CLS] vector (dense + tanh of the BOS state)
document      ``D``         the env's ``document`` vector, unchanged (zeros without documents)
position      1             tokens written / ``max_len``, in ``[0, 1]``
depth         1             values on the AlphaStack / ``max_len``, in ``[0, 1]``
============  ============  ==========================================================================

``H`` is the encoder's ``hidden_size``, ``D`` the env's document size. The bounds of the alpha slice come
from the checkpoint: ``[-1, 1]`` for ``"cls"`` (tanh); for ``"mean"``, BERT's last operation is a
LayerNorm (the tree encoder's too) with weight ``γ`` and bias ``β``, whose output obeys
``|y_i| <= sqrt(H - 1)·|γ_i| + |β_i|``, and a mean keeps that bound. The action mask is *not* in the
vector: :meth:`action_masks` delegates to the env, so mask-aware algorithms read it as usual.

The encoder is frozen (``eval()``, no gradients) and runs on the CPU in ``torch.inference_mode``; only
the written prefix is encoded (one short sequence per step). The checkpoint is required: pretrain one
with ``experiments/pretrain_alpha_encoder.py`` (``--quick`` for a tiny one).

Example:
    >>> env = EncodedAlphaObservation(gym.make("AlphaEnv/AlphaStack-v0"), "runs/x/alpha_encoder.pt")
    >>> model = MaskablePPO("MlpPolicy", env)          # reads env.action_masks()
"""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from alpha_env.errors import SettingsError
from encoders.alpha_encoder import AlphaEncoder
from encoders.checkpoint import load_checkpoint
from encoders.errors import CodebookMismatchError
from encoders.fusion import masked_mean
from encoders.tree_encoder import AlphaTreeEncoder

__all__ = ["ENCODED_POOLINGS", "EncodedAlphaObservation"]

#: How the token states become one vector: ``mean`` (masked mean) or ``cls`` (the pooled BOS state).
ENCODED_POOLINGS = ("mean", "cls")

_OBS_KEYS = ("tokens", "action_mask", "document", "position", "stack_depth")


class EncodedAlphaObservation(
    gym.ObservationWrapper[np.ndarray, np.int64, dict[str, np.ndarray]], gym.utils.RecordConstructorArgs
):
    """Replace the ``Dict`` observation by ``[alpha encoding, document, position, depth]`` (module table).

    Args:
        env: an :class:`~alpha_env.env.AlphaStackEnv`, possibly wrapped (its ``Dict`` observation space).
        checkpoint: path of an ``alpha_encoder`` or ``alpha_tree_encoder`` checkpoint
            (:func:`encoders.save_checkpoint`), or an :class:`AlphaEncoder` / :class:`AlphaTreeEncoder`
            already loaded (shared by several envs of one process; it is frozen).
        pooling: ``"mean"`` (default) or ``"cls"``.

    Raises:
        SettingsError: unknown pooling, not an AlphaStackEnv observation, or an encoder whose ``max_len``
            is shorter than the env's.
        CheckpointError: the file is missing, unreadable or not an alpha encoder.
        CodebookMismatchError: the encoder was trained with another codebook than the env's.
    """

    def __init__(self, env: gym.Env, checkpoint: str | Path | AlphaEncoder | AlphaTreeEncoder, *,
                 pooling: str = "mean"):
        gym.utils.RecordConstructorArgs.__init__(self, checkpoint=checkpoint, pooling=pooling)
        gym.ObservationWrapper.__init__(self, env)
        if pooling not in ENCODED_POOLINGS:
            raise SettingsError(f"unknown pooling {pooling!r}; choose one of {ENCODED_POOLINGS}")
        space = env.observation_space
        if not isinstance(space, spaces.Dict) or set(space.spaces) != set(_OBS_KEYS):
            raise SettingsError(
                f"EncodedAlphaObservation needs the AlphaStackEnv Dict observation ({_OBS_KEYS}), got {space}"
            )
        codebook = env.unwrapped.codebook
        self.encoder = self._load(checkpoint, codebook)
        self.pooling = pooling
        self._max_len = int(space["tokens"].shape[0])
        if self.encoder.config.max_len < self._max_len:
            raise SettingsError(
                f"the alpha encoder reads at most {self.encoder.config.max_len} tokens but the env writes up "
                f"to max_len={self._max_len}; pretrain it with max_len >= {self._max_len}"
            )
        hidden = self.encoder.hidden_size
        alpha_low, alpha_high = self._alpha_bounds()
        doc = space["document"]
        self.alpha_dim = hidden
        self.document_dim = int(doc.shape[0])
        low = np.concatenate([alpha_low, doc.low.astype(np.float32), np.zeros(2, dtype=np.float32)])
        high = np.concatenate([alpha_high, doc.high.astype(np.float32), np.ones(2, dtype=np.float32)])
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

    @staticmethod
    def _load(
        checkpoint: str | Path | AlphaEncoder | AlphaTreeEncoder, codebook
    ) -> AlphaEncoder | AlphaTreeEncoder:
        if isinstance(checkpoint, AlphaEncoder | AlphaTreeEncoder):
            encoder = checkpoint
            config = encoder.config
            if config.codebook_version != codebook.version or config.vocab_size != len(codebook):
                raise CodebookMismatchError(
                    f"the alpha encoder was built for codebook {config.codebook_version!r} "
                    f"({config.vocab_size} tokens), the env uses {codebook.version!r} "
                    f"({len(codebook)} tokens)"
                )
        elif isinstance(checkpoint, str | Path):
            kinds = (AlphaEncoder.kind, AlphaTreeEncoder.kind)
            encoder = load_checkpoint(checkpoint, codebook, kind=kinds).model
        else:
            raise SettingsError(
                "checkpoint must be a path, an AlphaEncoder or an AlphaTreeEncoder, "
                f"not {type(checkpoint).__name__}"
            )
        encoder.eval()
        encoder.requires_grad_(False)
        return encoder

    def _alpha_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Component-wise bounds of the alpha slice (see the module docstring), with a float32 margin."""
        hidden = self.encoder.hidden_size
        if self.pooling == "cls":
            bound = np.ones(hidden, dtype=np.float64)
        else:
            norm = self.encoder.output_norm
            gamma = norm.weight.detach().double().abs().numpy()
            beta = norm.bias.detach().double().abs().numpy()
            bound = math.sqrt(max(hidden - 1, 1)) * gamma + beta
        bound = (bound * (1 + 1e-4) + 1e-4).astype(np.float32)
        return -bound, bound

    def encode(self, tokens: np.ndarray) -> np.ndarray:
        """``float32 (H,)`` encoding of one ``tokens`` row (ids written so far, right-padded with PAD)."""
        row = np.asarray(tokens, dtype=np.int64).reshape(-1)
        written = row[row != 0]
        ids = torch.as_tensor(written, dtype=torch.long).unsqueeze(0)
        with torch.inference_mode():
            out = self.encoder(ids)
            vector = out.pooled if self.pooling == "cls" else masked_mean(out.sequence, out.mask)
        return vector[0].float().numpy()

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The ``float32`` vector of one observation (layout in the module table)."""
        scale = np.float32(self._max_len)
        vector = np.concatenate([
            self.encode(observation["tokens"]),
            observation["document"].astype(np.float32),
            observation["position"].astype(np.float32) / scale,
            observation["stack_depth"].astype(np.float32) / scale,
        ])
        return np.clip(vector, self.observation_space.low, self.observation_space.high)

    def action_masks(self) -> np.ndarray:
        """The wrapped environment's ``(n,)`` bool action mask (sb3-contrib's ``MaskablePPO`` reads it)."""
        return self.env.get_wrapper_attr("action_masks")()
