"""Cross-sectional and group kernels of this tree against those of an earlier commit, side by side.

Run: ``python benchmarks/compare_cross_section.py [--ref COMMIT] [--repeat 15] [--rounds 2]`` (default ref
``ec3d932``, session 10's base: before ``zscore``, the group statistics and ``group_rank`` took ``rank``'s
tie rule). The old ``alpha_env/ops/crosssection.py`` and ``alpha_env/ops/group.py`` are read with
``git show`` into temporary modules (they import this tree's helpers, which kept every name they use);
both versions run on the same inputs, one thread, alternated in ``--rounds`` rounds, best of
``--repeat`` calls each. Inputs: 1,260 x 500 days of real values, booleans, ``ts_argmax``-like integers
(1..5) and cent differences, 11 groups. Prints the times, their ratio, and whether the results are the
same bits (they differ only on days or groups whose values are all equal at 10 significant digits, and
for ``group_rank`` where values tie at 10 digits but not exactly).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before Numba loads

import numpy as np  # noqa: E402

from alpha_env.ops import crosssection as new_cs  # noqa: E402
from alpha_env.ops import group as new_gr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OPS = ("zscore", "indneutralize", "group_zscore", "group_mean", "group_rank")


def _old_module(ref: str, path: str, name: str):
    text = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="old_cross_section_"))
    file = folder / f"{name}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cache needs the module importable by name
    spec.loader.exec_module(module)
    return module


def _inputs(seed: int = 0, T: int = 1260, N: int = 500) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cents = np.round(rng.uniform(5, 300, (T, N)), 2) - np.round(rng.uniform(5, 300, (T, N)), 2)
    return {"real": rng.normal(size=(T, N)), "boolean": (rng.random((T, N)) > 0.5).astype(float),
            "ints 1..5": rng.integers(1, 6, (T, N)).astype(float), "cents": cents}


def _best_ms(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="ec3d932", help="the commit whose kernels are compared")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per measurement (best is kept)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds of old and new")
    args = parser.parse_args()
    old_cs = _old_module(args.ref, "alpha_env/ops/crosssection.py", "old_crosssection")
    old_gr = _old_module(args.ref, "alpha_env/ops/group.py", "old_group")
    groups = np.random.default_rng(1).integers(0, 11, 500).astype(np.int64)
    versions = {"old": (old_cs, old_gr), "new": (new_cs, new_gr)}
    print(f"{'days':<10} {'operator':<14} {'old ms':>8} {'new ms':>8} {'new/old':>8}  same bits")
    for kind, x in _inputs().items():
        for op in OPS:
            calls = {}
            for name, (cs, gr) in versions.items():
                fn = getattr(cs, op) if op == "zscore" else getattr(gr, op)
                operands = (x,) if op == "zscore" else (x, groups)
                calls[name] = lambda f=fn, a=operands: f(*a)
                calls[name]()  # compile outside the timing
            times = {name: np.inf for name in calls}
            for _ in range(args.rounds):
                for name, call in calls.items():
                    times[name] = min(times[name], _best_ms(call, args.repeat))
            same = np.array_equal(calls["old"](), calls["new"](), equal_nan=True)
            print(f"{kind:<10} {op:<14} {times['old']:>8.2f} {times['new']:>8.2f} "
                  f"{times['new'] / times['old']:>7.2f}x  {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
