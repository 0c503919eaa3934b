"""Lazy public names for packages whose modules import heavy optional dependencies (torch, transformers).

``agents`` and ``encoders`` re-export their public names from their submodules. Importing those names
eagerly would import torch with the package, so even a torch-free submodule (their settings, which every
experiment's ``--help`` parses) would pay seconds of imports. :func:`lazy_exports` gives a package a
module-level ``__getattr__`` (PEP 562) that imports a name's submodule on first use, and
:func:`require` keeps the package's one-line message when the optional extra is not installed, without
importing it.

Example (a package's ``__init__``)::

    from alpha_env.lazy import lazy_exports, require

    require("agents", "torch", extra="rl")
    __all__, __getattr__, __dir__ = lazy_exports(__name__, {"builders": ("build_agent",)})
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports", "require"]


def require(package: str, dependency: str, extra: str) -> None:
    """Raise ``ImportError`` naming the extra to install when ``dependency`` cannot be imported.

    Looks the module up without importing it (``importlib.util.find_spec``: about a millisecond).
    """
    try:
        found = importlib.util.find_spec(dependency) is not None
    except (ImportError, ValueError):  # a finder that refuses it; a module set to None in sys.modules
        found = False
    if not found:
        raise ImportError(f"{package} needs the optional {extra!r} extra: pip install 'alpha-env[{extra}]'")


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` re-exporting ``exports`` lazily.

    Args:
        package: the package's ``__name__``.
        exports: submodule name (relative to the package) → the public names it defines.

    Returns:
        the sorted public names, a module ``__getattr__`` that imports a name's submodule on first access
        (and keeps the value in the package's namespace, so later accesses are plain lookups), and a
        ``__dir__`` listing the public names with the namespace's.

    Raises:
        ValueError: a name listed under two submodules.
    """
    where: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in where:
                raise ValueError(f"{package}: {name!r} is exported by both {where[name]} and {module}")
            where[name] = module

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return sorted(where), __getattr__, __dir__
