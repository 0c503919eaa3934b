"""Checkpoints of the alpha models: weights + config + codebook version, guarded on load.

A checkpoint is one ``torch.save`` file holding a plain dict::

    {"format": "alpha-env-checkpoint/1", "kind": "alpha_decoder", "config": {...},
     "codebook_version": "...", "vocab_size": 97, "state_dict": {...}, "extra": {...}}

``extra`` is free for the caller (training step, metrics, optimizer state: anything ``torch.load`` with
``weights_only=True`` reads back: tensors, numbers, strings, lists, dicts). Loading checks the codebook:
a checkpoint written for another codebook version or size raises :class:`CodebookMismatchError`, because
its token ids would mean other tokens.

Example:
    >>> save_checkpoint(decoder, "runs/x/decoder.pt", extra={"epoch": 3})
    >>> loaded = load_checkpoint("runs/x/decoder.pt", codebook)          # guard against another codebook
    >>> loaded.model, loaded.extra["epoch"]
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from encoders.config import CodebookLike, codebook_version_of
from encoders.errors import CheckpointError, CodebookMismatchError

__all__ = ["CHECKPOINT_FORMAT", "MODEL_KINDS", "Checkpoint", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = "alpha-env-checkpoint/1"


class _ModelKinds(Mapping[str, tuple[type[nn.Module], type]]):
    """kind → (model class, config class), each class's module imported when its kind is first looked up:
    the alpha encoders need ``transformers`` (about 1.3 s to import), which a job that loads only the
    decoder never uses."""

    _where = {
        "alpha_encoder": ("encoders.alpha_encoder", "AlphaEncoder", "AlphaEncoderConfig"),
        "alpha_decoder": ("encoders.decoder", "AlphaDecoder", "AlphaDecoderConfig"),
        "alpha_tree_encoder": ("encoders.tree_encoder", "AlphaTreeEncoder", "AlphaTreeEncoderConfig"),
    }

    def __getitem__(self, kind: str) -> tuple[type[nn.Module], type]:
        module_name, model, config = self._where[kind]
        module = importlib.import_module(module_name)
        return getattr(module, model), getattr(module, config)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


MODEL_KINDS: Mapping[str, tuple[type[nn.Module], type]] = _ModelKinds()
"""The one registry of checkpointable models: kind → (model class, config class) (each ``kind``, the
class attribute of its model)."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (in eval mode, on ``map_location``) and the caller's ``extra`` dict."""

    model: Any
    kind: str
    codebook_version: str
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(model: nn.Module, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (an :class:`AlphaEncoder`, :class:`AlphaTreeEncoder` or :class:`AlphaDecoder`) to
    ``path`` atomically.

    The file is written next to ``path`` and renamed into place, so a crash never leaves half a checkpoint.
    """
    kind = getattr(model, "kind", None)
    if kind not in MODEL_KINDS:
        raise CheckpointError(
            f"cannot checkpoint a {type(model).__name__}; known kinds: {sorted(MODEL_KINDS)}"
        )
    config = model.config
    payload = {
        "format": CHECKPOINT_FORMAT,
        "kind": kind,
        "config": config.to_dict(),
        "codebook_version": config.codebook_version,
        "vocab_size": config.vocab_size,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    torch.save(payload, temporary)
    os.replace(temporary, target)
    return target


def load_checkpoint(
    path: str | Path,
    codebook: CodebookLike | str,
    *,
    kind: str | tuple[str, ...] | None = None,
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`, refusing one made for another codebook.

    Args:
        path: the checkpoint file.
        codebook: the codebook the model will be used with (its version and size are checked), or just
            a version string (then only the version is checked).
        kind: expected model kind (a key of :data:`MODEL_KINDS`), or a tuple of accepted kinds; ``None``
            accepts any.
        map_location: device of the loaded weights.

    Raises:
        CheckpointError: unreadable file, unknown format or kind, or not the kind asked for.
        CodebookMismatchError: saved with another codebook version or vocabulary size.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"checkpoint {source} does not exist")
    try:
        payload = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"checkpoint {source} cannot be read: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{source} is not an alpha-env checkpoint (format {CHECKPOINT_FORMAT})")
    saved_kind = payload["kind"]
    if saved_kind not in MODEL_KINDS:
        raise CheckpointError(f"{source} holds an unknown model kind {saved_kind!r}")
    wanted = (kind,) if isinstance(kind, str) else kind
    if wanted is not None and saved_kind not in wanted:
        raise CheckpointError(f"{source} holds an {saved_kind}, not an {' or '.join(wanted)}")
    saved_version = str(payload["codebook_version"])
    wanted_version = codebook_version_of(codebook)
    if saved_version != wanted_version:
        raise CodebookMismatchError(
            f"{source} was saved with codebook version {saved_version!r} but the current codebook is "
            f"version {wanted_version!r}: its token ids would mean other tokens. Pretrain the model again "
            f"with the current codebook, or load it with the codebook it was made with."
        )
    if not isinstance(codebook, str) and len(codebook) != int(payload["vocab_size"]):
        raise CodebookMismatchError(
            f"{source} was saved for {payload['vocab_size']} tokens but the codebook has {len(codebook)} "
            f"(same version {saved_version!r}: was the codebook extended with fields?)"
        )
    model_class, config_class = MODEL_KINDS[saved_kind]
    config = config_class(**payload["config"])
    model = model_class(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weights do not fit the saved config: {exc}") from exc
    model.to(map_location)
    model.eval()
    return Checkpoint(model=model, kind=saved_kind, codebook_version=saved_version, extra=payload["extra"])
