"""Shared pieces of the model configurations: validation, codebook binding and seeded construction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import torch

from alpha_env.errors import SettingsError

__all__ = ["CodebookLike", "codebook_fields", "check_positive", "seeded", "codebook_version_of"]


class CodebookLike(Protocol):
    """What the models need of :class:`alpha_env.grammar.Codebook`."""

    PAD: int
    BOS: int
    END: int
    version: str

    def __len__(self) -> int: ...


def codebook_fields(codebook: CodebookLike) -> dict[str, Any]:
    """Codebook fields of a model config: ``vocab_size, codebook_version, pad_id, bos_id, end_id``."""
    if int(codebook.PAD) != 0:
        raise SettingsError(f"the codebook's PAD id must be 0, got {codebook.PAD}")
    return {
        "vocab_size": len(codebook),
        "codebook_version": str(codebook.version),
        "pad_id": int(codebook.PAD),
        "bos_id": int(codebook.BOS),
        "end_id": int(codebook.END),
    }


def codebook_version_of(codebook: CodebookLike | str) -> str:
    """The version string of a codebook (or the string itself)."""
    return codebook if isinstance(codebook, str) else str(codebook.version)


def check_positive(owner: str, **values: int | float) -> None:
    """Raise :class:`SettingsError` naming the first value that is not > 0."""
    for name, value in values.items():
        if not value > 0:
            raise SettingsError(f"{owner}: {name} must be > 0, got {value!r}")


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with torch's CPU RNG seeded by ``seed`` and restore the previous RNG state afterwards.

    Used for weight initialization and training loops, so that results are reproducible without ever
    changing the caller's global RNG state. ``None`` runs the block unchanged.
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield
