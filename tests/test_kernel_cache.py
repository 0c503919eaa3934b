"""Numba's cache lives in a folder named by the package's sources (``alpha_env.kernel_cache``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba

import alpha_env
from alpha_env import kernel_cache
from alpha_env.kernel_cache import KEEP, PREFIX, cache_folder, pin, pinned_folder, sources_fingerprint


def _package(root: Path) -> Path:
    pkg = root / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("X = 1\n")
    (pkg / "sub" / "b.py").write_text("Y = 2\n")
    (pkg / "data.json").write_text("{}")
    return pkg


def test_fingerprint_follows_every_source_file(tmp_path):
    pkg = _package(tmp_path)
    first = sources_fingerprint(pkg)
    assert len(first) == 16 and first == sources_fingerprint(pkg)
    (pkg / "data.json").write_text('{"not": "code"}')
    (pkg / "sub" / "__pycache__").mkdir()
    (pkg / "sub" / "__pycache__" / "cached.py").write_text("not a source")  # caches are not sources
    assert sources_fingerprint(pkg) == first
    seen = {first}
    for change in (lambda: (pkg / "sub" / "b.py").write_text("Y = 3\n"),
                   lambda: (pkg / "c.py").write_text(""),
                   lambda: (pkg / "c.py").rename(pkg / "sub" / "c.py")):
        change()
        seen.add(sources_fingerprint(pkg))
    assert len(seen) == 4


def test_cache_folder_roots(tmp_path):
    pkg = _package(tmp_path)
    name = PREFIX + sources_fingerprint(pkg)
    assert cache_folder(pkg, {}) == pkg / "__pycache__" / name
    given = tmp_path / "mine"
    assert cache_folder(pkg, {"NUMBA_CACHE_DIR": str(given)}) == given / name
    inherited = given / (PREFIX + "0" * 16)  # a parent process's folder: its root is shared
    assert pinned_folder({"NUMBA_CACHE_DIR": str(inherited)}) == inherited
    assert pinned_folder({"NUMBA_CACHE_DIR": str(given)}) is None and pinned_folder({}) is None
    assert cache_folder(pkg, {"NUMBA_CACHE_DIR": str(inherited)}) == given / name
    shutil.rmtree(pkg / "__pycache__")
    (pkg / "__pycache__").write_text("a file: the package folder cannot hold the cache")
    home = tmp_path / "xdg"
    assert cache_folder(pkg, {"XDG_CACHE_HOME": str(home)}) == home / "alpha-env" / name
    assert (home / "alpha-env" / name).is_dir()


def test_pin_sets_the_environment_and_keeps_the_most_recent_folders(tmp_path):
    pkg = _package(tmp_path)
    root = tmp_path / "root"
    for k in range(KEEP + 2):
        old = root / f"{PREFIX}{k:016x}"
        old.mkdir(parents=True)
        os.utime(old, (1_000_000 + k, 1_000_000 + k))
    other = root / "someone-else"
    other.mkdir()
    environ = {"NUMBA_CACHE_DIR": str(root)}
    folder = pin(pkg, environ=environ)
    assert folder == root / (PREFIX + sources_fingerprint(pkg)) and environ["NUMBA_CACHE_DIR"] == str(folder)
    kept = sorted(p.name for p in root.iterdir())
    newest = [f"{PREFIX}{k:016x}" for k in range(KEEP + 1, 2, -1)][: KEEP - 1]
    assert kept == sorted([folder.name, "someone-else", *newest])


def test_this_process_uses_the_package_folder():
    folder = Path(os.environ["NUMBA_CACHE_DIR"])
    assert folder.name == PREFIX + sources_fingerprint(Path(alpha_env.__file__).parent)
    assert numba.config.CACHE_DIR == str(folder)


_A = """
from numba import njit


@njit(cache=True, inline="always")
def helper():
    return {h}


@njit(cache=True)
def called():
    return {c}
"""

_B = """
from numba import njit

from pkg.a import called, helper


@njit(cache=True)
def f():
    return helper() + called()
"""


def test_a_changed_helper_module_recompiles_its_callers(tmp_path):
    """A kernel in ``b.py`` inlines a helper and calls a kernel of ``a.py``; ``a.py`` changes, ``b.py``
    does not: Numba alone would load ``b``'s cached machine code (the old sum); pinned, it recompiles."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    loader = textwrap.dedent(f"""
        import importlib.util
        from pathlib import Path
        spec = importlib.util.spec_from_file_location("_kc", {str(Path(kernel_cache.__file__))!r})
        kc = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(kc)
        kc.pin(Path(__file__).parent, "pkg-numba-")
    """)
    (pkg / "__init__.py").write_text(loader)
    (pkg / "b.py").write_text(_B)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", "from pkg.b import f; print(f())"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    (pkg / "a.py").write_text(_A.format(h=1, c=10))
    assert run() == "11" and run() == "11"  # the second run loads the cache
    (pkg / "a.py").write_text(_A.format(h=2, c=20))
    assert run() == "22"
