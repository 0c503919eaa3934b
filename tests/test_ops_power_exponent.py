"""``pow``/``signedpower`` with one number as exponent (a loop of its own) give the ufuncs' bits."""

from __future__ import annotations

import numpy as np
import pytest

from alpha_env.ops import elementwise as ew

EXPONENTS = [2.0, 3.0, 0.5, 1.0, 4.0, 5.0, 0.0, -0.0, -1.0, -2.0, 2.5, -0.5, 1e10, -1e10, 2.0**52 + 1, 1e300,
             np.nan, np.inf, -np.inf, 7]


def _base() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 40)) * 10.0
    x[0, :12] = [1.0, -1.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e200, -1e200, 2.0]
    x[1] = np.round(x[1])
    return x


@pytest.mark.parametrize("op, ufunc, signed",
                         [("pow", ew._pow, False), ("signedpower", ew._signedpower, True)])
@pytest.mark.parametrize("exponent", EXPONENTS)
def test_one_exponent_loop_equals_ufunc(op, ufunc, signed, exponent):
    x = _base()
    expected = np.empty_like(x)
    with np.errstate(all="ignore"):
        ufunc(x, float(exponent), out=expected)
    got = getattr(ew, op)(x, exponent)
    assert got.dtype == np.float64 and got.shape == x.shape
    assert np.array_equal(got.view(np.int64), expected.view(np.int64))
    strided = getattr(ew, op)(x[:, ::2], exponent)  # a non-contiguous base
    assert np.array_equal(strided.view(np.int64), expected[:, ::2].view(np.int64))


def test_scalar_base_with_series_exponent_keeps_the_ufunc():
    e = _base()
    assert np.array_equal(ew.pow(2.0, e), ew._pow(2.0, e), equal_nan=True)
    assert np.array_equal(ew.signedpower(-2.0, e), ew._signedpower(-2.0, e), equal_nan=True)


def test_importing_the_ace_builds_no_ufunc():
    """The element-wise ufuncs are built (or loaded from Numba's cache) on their first call, not when the
    ACE is imported; ``build_ufuncs`` (the install's warmup) builds them all."""
    import subprocess
    import sys

    code = ("import alpha_env.ace, alpha_env.ops.elementwise as e\n"
            "lazy = [v for v in vars(e).values() if isinstance(v, e._LazyUfunc)]\n"
            "assert len(lazy) == 15 and all(u._ufunc is None for u in lazy), lazy\n"
            "import numpy as np\n"
            "assert e.add(np.ones((2, 3)), 2.0).tolist() == [[3.0] * 3] * 2 and e._add._ufunc is not None\n"
            "assert all(u._ufunc is None for u in lazy if u is not e._add)\n"
            "assert e.build_ufuncs() == 15 and all(u._ufunc is not None for u in lazy)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
