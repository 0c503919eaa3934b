"""Test helper for the fuzz suite (not a test module): the generators and failure rules live in
``benchmarks/fuzz_reliability.py`` (one definition for the bounded tests and the longer run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load_fuzz", "assert_no_failure"]

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_reliability.py"


def load_fuzz() -> ModuleType:
    """``benchmarks/fuzz_reliability.py`` as the module ``fuzz_reliability`` (loaded once per process)."""
    name = "fuzz_reliability"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def assert_no_failure(failure) -> None:
    """Fail the test with the failure's class, input and traceback (``None`` passes)."""
    assert failure is None, failure.short() + "\n" + failure.detail
