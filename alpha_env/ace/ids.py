"""Alpha ids: a stable hash of canonical expression + settings + dataset id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["alpha_id", "ALPHA_ID_LENGTH"]

#: Hex characters of an alpha id (64 bits of sha256).
ALPHA_ID_LENGTH = 16


def alpha_id(expression: str, settings: Mapping[str, Any], dataset_id: str) -> str:
    """Stable id of an alpha: the first 16 hex digits of sha256 over a canonical JSON document.

    Args:
        expression: the canonical expression text (``alpha_env.grammar.canonical``).
        settings: the simulation settings as a plain dict (key order does not matter).
        dataset_id: the panel's ``dataset_id``.

    The same alpha (same canonical text, settings and data) always gets the same id, in any process.
    """
    doc = json.dumps(
        {"dataset": dataset_id, "expression": expression, "settings": dict(settings)},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    )
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()[:ALPHA_ID_LENGTH]
