"""Test-session setup shared by every test module.

Numba's OpenMP threading layer spins its workers while idle, which slows torch in the same process by
10-100x on a 2-core machine; the workqueue layer and a passive OpenMP wait policy avoid that. These must
be set before numba or torch is imported, hence here (the experiments set the same in their launcher).

``ALPHA_ENV_REQUIRE_DATA=1`` (set by ``.ci/run``) turns the skip of a ``real_data`` test (``../shared/data``
absent) into a failure, so a CI without the data cannot stay green by skipping.

Hypothesis runs under the ``ci`` profile (derandomized, no deadline) unless ``HYPOTHESIS_PROFILE`` names
another registered one (``dev``: random examples, for local bug hunting).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]

#: Environment variable that makes a skipped ``real_data`` test fail.
REQUIRE_DATA_VAR = "ALPHA_ENV_REQUIRE_DATA"


def _data_required() -> bool:
    return os.environ.get(REQUIRE_DATA_VAR, "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With ``ALPHA_ENV_REQUIRE_DATA`` set, a ``real_data`` test that skips (in setup or call) fails."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail") and _data_required()
            and item.get_closest_marker("real_data") is not None):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_DATA_VAR} is set, but this real_data test skipped: {reason}"


@pytest.fixture(scope="module")
def single_thread_torch():
    """Tiny models: one torch thread is fastest, and avoids fighting other OpenMP users for 2 cores.
    Use with ``pytestmark = pytest.mark.usefixtures("single_thread_torch")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread():
    """One torch and one Numba thread for a module of tiny models on the shared 2-core machine.
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import numba
    import torch

    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)


@pytest.fixture(scope="module")
def experiments():
    """A function importing a script module of ``experiments/`` by name (``experiments("study_real_data")``);
    ``experiments/`` is on ``sys.path`` only while the requesting test module runs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT / "experiments"))
        yield importlib.import_module


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray runtime on this machine's 2 cores for one test module (tests marked ``ray``)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
