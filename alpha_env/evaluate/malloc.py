"""Keep freed big arrays in the process heap (glibc ``mallopt``), so a new ``(T, N)`` result reuses them.

By default glibc serves every allocation above a dynamic threshold (128 KiB at start) with a fresh
``mmap`` and returns it to the kernel on ``free``: each new ``T x N`` operator result then pays a page
fault per 4 KiB page on its first write, which costs more than the arithmetic of element-wise operators
(A101 ``(close - open) / ((high - low) + .001)`` on 1,260 x 500: see ``docs/ops.md``, Performance).
Raising ``M_MMAP_THRESHOLD`` makes such arrays come from the heap, and raising ``M_TRIM_THRESHOLD`` keeps
freed heap memory in the process, so the evaluator's released intermediates are reused page for page:
a buffer pool kept by the allocator, with no change to any operator.

The cost is memory: up to :data:`TRIM_THRESHOLD_BYTES` of freed heap stays mapped in the process, and
freed blocks below live ones cannot be returned at all, so a long script that builds and drops many
environments on a big panel grows (``experiments/ablate_fusion.py`` on ``us_2006_2013``, 637 x 1,804:
18.7 GB after 25 training runs, killed by the kernel). :func:`release_free_memory` hands the free heap
pages back (``gc.collect`` then glibc's ``malloc_trim``); scripts call it between runs.
:func:`keep_big_blocks` is called once when :mod:`alpha_env.evaluate` is imported; elsewhere than glibc
(macOS, musl, Windows) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "keep_big_blocks", "release_free_memory"]

#: Allocations up to this size come from the heap, not a fresh ``mmap`` (glibc's documented maximum on
#: 64-bit systems: 32 MiB, e.g. a 4,000 x 1,000 float64 panel).
MMAP_THRESHOLD_BYTES = 32 * 2**20
#: Freed memory at the top of the heap is kept (not returned to the kernel) up to this size.
TRIM_THRESHOLD_BYTES = 256 * 2**20

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h> parameter numbers
_M_MMAP_THRESHOLD = -3


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
        libc.mallopt, libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def keep_big_blocks() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); returns whether both were set.

    Idempotent; False (and nothing changed) where the C library is not glibc.
    """
    libc = _glibc()
    if libc is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok_trim = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return ok_mmap and ok_trim


def release_free_memory() -> bool:
    """Collect garbage, then return every free heap page to the kernel (glibc ``malloc_trim(0)``); returns
    whether glibc released anything. Costs a few milliseconds; call it between long units of work (a
    training run), not per operator."""
    import gc

    gc.collect()
    libc = _glibc()
    if libc is None:
        return False
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim(0) == 1
