"""Provenance of a figure file: which command, seeds, code, packages and machine produced it.

Every JSON file behind a published table or chart carries a ``"provenance"`` block, so that a reader can
check out the recorded commit and rerun the recorded command (``docs/reproducibility.md``). This module
builds that block and writes figure files; it imports neither torch nor the experiment code.

* :func:`git_state` reads the checkout's commit and ``git status --porcelain`` (call it when the run
  *starts*: the code that runs is the code of that moment).
* :func:`provenance` assembles the block when the run ends (command, seeds, git state, package versions,
  machine, wall time in seconds).
* :func:`write_figure_json` writes ``{**doc, "provenance": ...}``; it refuses to write under the
  checkout's ``docs/`` unless the caller publishes (``--publish``) from a clean tree (or explicitly allows a
  dirty one, which is then marked ``"dirty": true`` at the top of the file).

A tree is *clean* when ``git status --porcelain`` lists nothing outside ``docs/``: ``docs/`` holds the
published outputs themselves (``make figures`` rewrites them one script after another), never code.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from alpha_env.errors import SettingsError

__all__ = ["CHECKOUT", "PUBLISHED_DIR", "git_state", "package_versions", "machine", "provenance",
           "portable_paths",
           "is_published_path", "check_publish", "output_folder", "write_figure_json", "incomplete_marker"]

CHECKOUT = Path(__file__).resolve().parents[1]
"""The source checkout this package runs from (its ``docs/`` is where published figures live)."""

PUBLISHED_DIR = "docs"
"""Folder of the checkout that holds the published figures; writing there needs ``publish=True``."""

_ALWAYS = ("alpha-env", "numpy", "numba", "pandas")
"""Distributions whose versions every provenance block records."""

_IF_IMPORTED = {"torch": "torch", "stable_baselines3": "stable-baselines3", "sb3_contrib": "sb3-contrib",
                "transformers": "transformers", "gymnasium": "gymnasium", "ray": "ray"}
"""Module → distribution recorded only when the module was imported by the run (no import here)."""


def git_state(root: str | Path = CHECKOUT) -> dict[str, Any]:
    """The commit of ``root`` and whether its tree is clean.

    Returns:
        ``{"commit": "<40 hex>" | "unknown", "clean": bool, "dirty_paths": [...]}``: ``dirty_paths``
        are the paths ``git status --porcelain`` lists outside ``docs/`` (changed or untracked, not
        ignored); ``clean`` is ``not dirty_paths``. Without git (or outside a checkout) the commit is
        ``"unknown"`` and ``clean`` is ``False``.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "clean": False, "dirty_paths": ["(not a git checkout)"]}
    paths = [line[3:].strip() for line in status.splitlines() if line.strip()]
    dirty = [p for p in paths if not p.strip('"').startswith(PUBLISHED_DIR + "/")]
    return {"commit": commit, "clean": not dirty, "dirty_paths": dirty}


def package_versions() -> dict[str, str]:
    """Versions of alpha-env, numpy, numba and pandas, plus torch, SB3, sb3-contrib, transformers,
    gymnasium and ray when the run imported them (``"absent"`` when a distribution is not installed)."""
    names = list(_ALWAYS) + [dist for module, dist in _IF_IMPORTED.items() if module in sys.modules]
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def machine() -> dict[str, Any]:
    """The machine: platform string, processor architecture, Python version and CPU count."""
    return {"platform": platform.platform(), "machine": platform.machine(),
            "python": platform.python_version(), "cpu_count": os.cpu_count()}


def provenance(argv: Sequence[str] | None, seeds: Sequence[int] | None, started: float, *,
               script: str | None = None, git: dict[str, Any] | None = None,
               root: str | Path = CHECKOUT) -> dict[str, Any]:
    """The provenance block of a run that began at ``started`` (a :func:`time.perf_counter` value).

    Args:
        argv: the script's arguments (without the program name); ``None`` means ``sys.argv[1:]``.
        seeds: the seeds the run used.
        started: ``time.perf_counter()`` at the start of the run; the block's ``wall_seconds`` is the
            time since then.
        script: the script as it is run from the checkout root (default: ``sys.argv[0]`` relative to
            ``root``).
        git: :func:`git_state` read when the run started (read now when ``None``).
        root: the checkout.

    Returns:
        ``{"command", "argv", "seeds", "commit", "clean", "dirty_paths", "packages", "machine",
        "wall_seconds", "finished_utc"}``; ``command`` is one shell line that reruns the run from ``root``.
    """
    args = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    if script is None:
        path = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else Path("python")
        try:
            script = str(path.relative_to(Path(root).resolve()))
        except ValueError:
            script = str(path)
    state = git if git is not None else git_state(root)
    return {
        "command": shlex.join(["python", script, *args]),
        "argv": args,
        "seeds": [int(s) for s in seeds] if seeds is not None else [],
        "commit": state["commit"],
        "clean": bool(state["clean"]),
        "dirty_paths": list(state["dirty_paths"]),
        "packages": package_versions(),
        "machine": machine(),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def is_published_path(path: str | Path, root: str | Path = CHECKOUT) -> bool:
    """Whether ``path`` lies under the checkout's ``docs/`` (relative paths are taken from the current
    directory, as ``open`` would)."""
    docs = (Path(root) / PUBLISHED_DIR).resolve()
    target = Path(path).resolve()
    return target == docs or docs in target.parents


def output_folder(out: str | None, publish: bool, published: str, name: str,
                  root: str | Path = CHECKOUT) -> Path:
    """The output folder of a script: ``out`` when given; else ``<root>/<published>`` with ``publish``
    (e.g. ``docs/figures``); else ``<root>/runs/<name>``."""
    if out:
        return Path(out)
    return Path(root) / (published if publish else Path("runs") / name)


def check_publish(path: str | Path, prov: dict[str, Any], publish: bool, allow_dirty: bool = False,
                  root: str | Path = CHECKOUT) -> bool:
    """Whether a file at ``path`` with provenance ``prov`` (or a :func:`git_state`) must be marked dirty;
    raises when it may not be written at all. Scripts call it before they start (fail in a second, not
    after an hour) and :func:`write_figure_json` again when writing.

    Raises:
        SettingsError: ``path`` is under ``docs/`` without ``publish``; or ``publish`` from a dirty tree
            (or an unknown commit) without ``allow_dirty``.
    """
    if not is_published_path(path, root):
        return not prov["clean"]
    if not publish:
        raise SettingsError(f"refusing to write {path}: files under {PUBLISHED_DIR}/ are written only with "
                            "--publish (default output: runs/ or --out)")
    if not prov["clean"] and not allow_dirty:
        shown = ", ".join(prov["dirty_paths"][:3]) + (" ..." if len(prov["dirty_paths"]) > 3 else "")
        raise SettingsError(f"refusing to publish {path}: the tree at commit {prov['commit'][:12]} is not "
                            f"clean ({shown}); commit first, or pass --allow-dirty to mark the file dirty")
    return not prov["clean"]


def portable_paths(value: Any, root: str | Path = CHECKOUT) -> Any:
    """``value`` (a JSON-ready tree) with every absolute path of this machine inside the checkout written
    relative to it (``docs/...``) and every one inside the checkout's parent folder written from the
    checkout (``../shared/...``), in strings that are paths and in strings that contain them (commands), so
    a published file names no folder of the machine that made it."""
    top = Path(root).resolve()
    prefixes = [(str(top) + "/", ""), (str(top), "."), (str(top.parent) + "/", "../")]

    def fix(text: str) -> str:
        for prefix, repl in prefixes:
            text = text.replace(prefix, repl) if prefix.endswith("/") else (repl if text == prefix else text)
        return text

    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {k: portable_paths(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable_paths(v, root) for v in value]
    return value


def write_figure_json(path: str | Path, doc: dict[str, Any], provenance: dict[str, Any], publish: bool, *,
                      allow_dirty: bool = False, root: str | Path = CHECKOUT, indent: int | None = 1,
                      default: Any = None) -> Path:
    """Write ``doc`` with its ``provenance`` block as JSON to ``path``, machine paths made portable
    (:func:`portable_paths`).

    Files under the checkout's ``docs/`` need ``publish=True`` and a clean tree; with ``allow_dirty`` a
    dirty tree is accepted and the file starts with ``"dirty": true`` (and a ``"WARNING"`` line). Files
    elsewhere (``runs/``, ``--out``) are always written, with ``"dirty": true`` when the tree was dirty.

    Args:
        path: the JSON file to write (its folder is created).
        doc: the figure document (JSON-ready, or made so by ``default``).
        provenance: the block from :func:`provenance`.
        publish: the script's ``--publish``.
        allow_dirty: the script's ``--allow-dirty``.
        default: ``json.dumps``'s ``default`` for values JSON does not know.

    Raises:
        SettingsError: see :func:`check_publish`; nothing is written then.
    """
    dirty = check_publish(path, provenance, publish, allow_dirty, root)
    head: dict[str, Any] = {}
    if dirty:
        head = {"dirty": True, "WARNING": "made from an uncommitted tree: the recorded commit does not "
                                          "reproduce these figures exactly"}
    body = {**head, **{k: v for k, v in doc.items() if k != "provenance"}, "provenance": provenance}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # round trip through JSON first so that ``default`` has made every value JSON-ready
    body = portable_paths(json.loads(json.dumps(body, default=default)), root)
    target.write_text(json.dumps(body, indent=indent) + "\n")
    return target


def incomplete_marker(guards: dict[str, bool]) -> dict[str, Any]:
    """``{"incomplete": bool, "guards_fired": [...]}`` from ``{guard name: fired}``: a run whose
    wall-clock guard fired stopped before its budget, so its figures are incomplete."""
    fired = sorted(name for name, hit in guards.items() if hit)
    return {"incomplete": bool(fired), "guards_fired": fired}
