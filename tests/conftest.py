"""Test-session setup shared by every test module.

Numba's OpenMP threading layer spins its workers while idle, which slows torch in the same process by
10-100x on a 2-core machine; the workqueue layer and a passive OpenMP wait policy avoid that. These must
be set before numba or torch is imported, hence here (the experiments set the same in their launcher).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
