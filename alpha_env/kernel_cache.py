"""Numba's on-disk kernel cache, kept in a folder named by a fingerprint of the package's sources.

Numba checks a cached kernel against its *own* source file only. A kernel that calls or inlines a
function of another module keeps the machine code compiled from that module's old text after the module
changes (an in-place update: ``git pull`` in a checkout installed with ``pip install -e``, an edited tree),
and returns the old results without a word. :func:`pin` points Numba's cache at a folder named by a
SHA-256 of every ``.py`` file of the package, so changed
sources find an empty folder and compile afresh; the install's warmup (:mod:`alpha_env.warmup`) fills it.

Where the folder lies (``<prefix><16 hex digits>``):

- under ``$NUMBA_CACHE_DIR`` when the user set it (a value that is itself such a folder, inherited from
  a parent process, names its parent as the root);
- else in the package's ``__pycache__`` (where Numba caches by default);
- else, when that is read-only, in ``$XDG_CACHE_HOME/alpha-env`` (``~/.cache/alpha-env``).

The :data:`KEEP` most recently used folders of a root are kept; older ones are removed when a new one
is made. :func:`pin` sets ``NUMBA_CACHE_DIR`` for this process and the processes it starts (Ray
workers, subprocesses), and Numba's loaded configuration when Numba is already imported: a process-wide
setting by nature (Numba has one cache location per process).

Public API: :func:`sources_fingerprint`, :func:`pinned_folder`, :func:`cache_folder`, :func:`pin`.
Standard library only, so a package can load this file on its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, MutableMapping
from pathlib import Path

__all__ = ["KEEP", "PREFIX", "sources_fingerprint", "pinned_folder", "cache_folder", "pin"]

#: Name prefix of alpha-env's cache folders.
PREFIX = "alpha-env-numba-"
#: Cache folders kept per root (the most recently used ones).
KEEP = 4


def sources_fingerprint(package_dir: Path) -> str:
    """16 hex digits of the SHA-256 of every ``.py`` file under ``package_dir`` (relative path and
    bytes, in sorted order). Numba's own index already refuses entries of another Numba version, and
    the file names carry the Python version."""
    package_dir = Path(package_dir)
    sources = []
    for folder, subfolders, files in os.walk(package_dir):
        subfolders[:] = [d for d in subfolders if d != "__pycache__"]  # where the caches themselves lie
        sources += [Path(folder, f) for f in files if f.endswith(".py")]
    digest = hashlib.sha256()
    for path in sorted(sources, key=lambda p: p.relative_to(package_dir).as_posix()):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def pinned_folder(environ: Mapping[str, str] | None = None, prefix: str = PREFIX) -> Path | None:
    """The cache folder :func:`pin` set in ``environ``'s ``NUMBA_CACHE_DIR`` (this process's or a parent's),
    or ``None`` when that names no ``prefix`` folder (unset, or a root the user chose)."""
    given = (os.environ if environ is None else environ).get("NUMBA_CACHE_DIR", "")
    return Path(given) if given and Path(given).name.startswith(prefix) else None


def cache_folder(package_dir: Path, environ: Mapping[str, str], prefix: str = PREFIX,
                 fingerprint: str | None = None) -> Path | None:
    """The cache folder for the sources of ``package_dir`` (of fingerprint ``fingerprint``, computed
    when ``None``) under the rules of the module docstring, or ``None`` when no candidate root is
    writable. Makes the folder; does not prune or set anything."""
    package_dir = Path(package_dir)
    name = prefix + (sources_fingerprint(package_dir) if fingerprint is None else fingerprint)
    given = environ.get("NUMBA_CACHE_DIR", "")
    inherited = pinned_folder(environ, prefix)
    if given:
        roots = [inherited.parent if inherited is not None else Path(given)]
    else:
        roots = [package_dir / "__pycache__"]
        try:
            roots.append(Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alpha-env")
        except RuntimeError:  # no home folder
            pass
    for root in roots:
        if _writable(root / name):
            return root / name
    return None


def _prune(folder: Path, prefix: str) -> None:
    """Remove all but the :data:`KEEP` most recently used ``prefix`` folders beside ``folder``."""
    try:
        siblings = [p for p in folder.parent.iterdir() if p.is_dir() and p.name.startswith(prefix)]
        siblings.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in siblings[KEEP:]:
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def pin(package_dir: Path | None = None, prefix: str = PREFIX,
        environ: MutableMapping[str, str] | None = None, fingerprint: str | None = None) -> Path | None:
    """Point Numba's cache at :func:`cache_folder` of ``package_dir`` (default: this package; its
    ``fingerprint`` when the caller already has it), mark it used and prune older folders. Returns the
    folder, or ``None`` (Numba's default locations are left alone) when no root is writable.

    Call it before the package's kernels are decorated (``alpha_env/__init__.py`` does).
    """
    environ = os.environ if environ is None else environ
    folder = cache_folder(Path(__file__).parent if package_dir is None else Path(package_dir), environ,
                          prefix, fingerprint)
    if folder is None:
        return None
    try:
        os.utime(folder)  # most recently used: kept by _prune
    except OSError:
        pass
    _prune(folder, prefix)
    environ["NUMBA_CACHE_DIR"] = str(folder)
    config = sys.modules.get("numba.core.config")
    if config is not None and environ is os.environ:
        config.CACHE_DIR = str(folder)
    return folder
