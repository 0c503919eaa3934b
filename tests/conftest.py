"""Test-session setup shared by every test module.

Numba's OpenMP threading layer spins its workers while idle, which slows torch in the same process by
10-100x on a 2-core machine; the workqueue layer and a passive OpenMP wait policy avoid that. These must
be set before numba or torch is imported, hence here (the experiments set the same in their launcher).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def single_thread_torch():
    """Tiny models: one torch thread is fastest, and avoids fighting other OpenMP users for 2 cores.
    Use with ``pytestmark = pytest.mark.usefixtures("single_thread_torch")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
