"""When kernels run on several threads, how their work is split, and the one array type they read.

Every kernel of the library exists in a parallel (``prange``) and a one-thread version with identical
results. Waking Numba's thread pool costs more than a small panel's whole computation (the RL
environment's panels are about 100 x 1,000), so :func:`use_parallel` picks the parallel version only for
panels of at least :data:`PARALLEL_MIN_CELLS` cells and when Numba has more than one thread.

:func:`twin` compiles one kernel body both ways, so the two versions can never drift apart.

Numba compiles a kernel once per argument *type*, and a read-only array is another type than a writable
one. The panel's fields are read-only and most intermediate results writable, so a kernel called with both
would be compiled (seconds each) for every mix its arguments come in, and ``python -m alpha_env.warmup``
could fill the cache only for the mixes it happened to call. Every caller therefore hands its array inputs
through :func:`read_only`: each kernel has one input signature, the one the warmup compiles.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import njit

__all__ = ["PARALLEL_MIN_CELLS", "use_parallel", "row_chunks", "block_width", "twin", "read_only"]

#: Kernels run on several threads only for panels of at least this many cells (and with more than one
#: Numba thread); smaller panels (the RL environment's) run on one.
PARALLEL_MIN_CELLS = 200_000

_MIN_BLOCK = 128  # stocks per parallel block at least: narrow strips of a row-major panel defeat the
# hardware prefetcher (measured: 16 stocks/block is 10x slower than 128 on a 1,260 x 500 panel)


def use_parallel(cells: int) -> bool:
    """Whether a panel of ``cells`` values should run the parallel kernel version."""
    return cells >= PARALLEL_MIN_CELLS and numba.get_num_threads() > 1


def row_chunks(n_rows: int) -> int:
    """Chunks of rows for a parallel kernel: 4 per thread (load balance), at most one per row."""
    return max(1, min(n_rows, 4 * numba.get_num_threads()))


def block_width(n_stocks: int, parallel: bool = True) -> int:
    """Stocks per block of a time-series kernel (blocks are strips of adjacent columns).

    Parallel: one block per thread, but never fewer than 128 stocks (rounded up to a multiple of 8).
    One thread: a single block of all ``n_stocks`` (rows stream in order).
    """
    if not parallel:
        return max(1, n_stocks)
    per_thread = -(-n_stocks // max(1, numba.get_num_threads()))
    return max(_MIN_BLOCK, -(-per_thread // 8) * 8)


def read_only(x: np.ndarray) -> np.ndarray:
    """``x`` itself when it is read-only, else a read-only view of it (no copy, about 0.3 µs).

    Kernel inputs go through it so that each kernel is compiled for read-only inputs only (module doc).
    """
    if not x.flags.writeable:
        return x
    view = x.view()
    view.flags.writeable = False
    return view


def twin(fn: Callable[..., Any]) -> tuple[Any, Any]:
    """Compile the kernel body ``fn`` (written with ``prange``) as ``(parallel, one_thread)`` dispatchers.

    Both use ``cache=True`` and ``error_model="numpy"``; in the one-thread version ``prange`` is a plain
    ``range``. The copy gets its own qualified name so that the two never share an on-disk cache entry.
    """
    serial = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                                fn.__closure__)
    serial.__qualname__ = fn.__qualname__ + "_serial"
    serial.__doc__ = fn.__doc__
    serial.__module__ = fn.__module__
    options = {"cache": True, "error_model": "numpy"}
    return njit(parallel=True, **options)(fn), njit(**options)(serial)
