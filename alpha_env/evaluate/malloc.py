"""Hand free heap pages back to the operating system between long units of work (glibc ``malloc_trim``).

The evaluator leaves the C allocator's settings alone. glibc serves a big ``(T, N)`` result from a fresh
``mmap`` only until the first such block is freed: it then raises its mmap threshold to that block's size
(up to 32 MiB) and its trim threshold to twice that, so later results reuse freed heap blocks page for page.
Measured (``benchmarks/bench_reward_path.py --sections 2``, fresh processes alternated): with glibc's
defaults the env on ``sp500_2013_2018`` takes about 0.5 minor page faults per operator call (a fresh
1,259 x 505 array would take 1,250) and runs as fast as with big blocks forced into the heap by
``mallopt``, which ``alpha_env.evaluate`` did when imported until session 8 (a process-wide side effect
that kept up to 256 MiB of free heap in every process; see docs/ops.md, Performance).

Freed blocks below live ones still stay in the heap, so a script that builds and drops many environments
on a big panel (``experiments/ablate_fusion.py``) calls :func:`release_free_memory` between runs.
Elsewhere than glibc (macOS, musl, Windows) it only collects garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

__all__ = ["release_free_memory"]


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``malloc_trim``), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def release_free_memory() -> bool:
    """Collect garbage, then return every free heap page to the kernel (glibc ``malloc_trim(0)``); returns
    whether glibc released anything (``False`` elsewhere). Costs a few milliseconds; call it between long
    units of work (a training run), not per operator."""
    gc.collect()
    libc = _glibc()
    if libc is None:
        return False
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim(0) == 1
