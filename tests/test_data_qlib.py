"""The Qlib-format loader on a folder written by the format's specification (and, where pyqlib is
installed, against Qlib's own ``D.features`` on the same folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alpha_env.data import load_panel
from alpha_env.data.qlib import is_qlib_folder, load_qlib, read_bin
from alpha_env.errors import DataError

T = 60
FIELDS = ("open", "high", "low", "close", "volume", "factor")


def _write_bin(path: Path, start: int, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.hstack([[start], values]).astype("<f4").tofile(path)


def _make_folder(root: Path) -> dict[str, tuple[int, int]]:
    """AAA: the whole calendar; BBB starts on day 10; CCC ends on day 44 (inclusive). Returns the spans."""
    dates = pd.bdate_range("2020-01-01", periods=T)
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(d.strftime("%Y-%m-%d") for d in dates) + "\n")
    spans = {"AAA": (0, T - 1), "BBB": (10, T - 1), "CCC": (0, 44)}
    (root / "instruments").mkdir()
    (root / "instruments" / "all.txt").write_text("".join(
        f"{s}\t{dates[a]:%Y-%m-%d}\t{dates[b]:%Y-%m-%d}\n" for s, (a, b) in spans.items()))
    rng = np.random.default_rng(0)
    for k, (sym, (a, b)) in enumerate(spans.items()):
        n = b - a + 1
        close = (10 + k) * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        vals = {"close": close, "open": close * (1 + rng.normal(0, 0.005, n))}
        vals["high"] = np.maximum(vals["open"], close) * 1.01
        vals["low"] = np.minimum(vals["open"], close) * 0.99
        vals["volume"] = rng.uniform(1e5, 1e6, n)
        vals["factor"] = np.full(n, 0.5 + k)
        vals["close"][5] = np.nan  # a gap inside the span stays NaN
        for f in FIELDS:
            _write_bin(root / "features" / sym.lower() / f"{f}.day.bin", a, vals[f])
    return spans


@pytest.fixture()
def qlib_dir(tmp_path: Path) -> Path:
    root = tmp_path / "qlib_data"
    _make_folder(root)
    return root


def test_load_panel_recognises_a_qlib_folder(qlib_dir: Path) -> None:
    assert is_qlib_folder(qlib_dir)
    panel = load_panel(qlib_dir)
    assert list(panel.tickers) == ["AAA", "BBB", "CCC"]
    assert panel.dates.size == T and str(panel.dates[0]) == "2020-01-01"
    for f in FIELDS:
        assert panel.field(f).shape == (T, 3)
    assert panel.metadata["format"] == "qlib"


def test_values_and_late_start_and_early_end(qlib_dir: Path) -> None:
    panel = load_qlib(qlib_dir)
    close = panel.field("close")
    raw = np.fromfile(qlib_dir / "features" / "bbb" / "close.day.bin", dtype="<f4")
    assert raw[0] == 10
    np.testing.assert_array_equal(close[10:, 1], raw[1:].astype(np.float64))
    assert np.isnan(close[:10, 1]).all()          # BBB starts late
    assert np.isnan(close[45:, 2]).all()          # CCC ends early
    assert np.isfinite(close[44, 2])
    assert np.isnan(close[5, 0]) and np.isnan(close[15, 1])  # a gap inside a span (6th value) stays NaN
    np.testing.assert_array_equal(panel.field("factor")[0], [0.5, np.nan, 2.5])
    assert not panel.metadata["vwap_approximated"] or "vwap" not in panel.metadata["qlib_fields"]


def test_universe_follows_the_instrument_spans(qlib_dir: Path) -> None:
    panel = load_qlib(qlib_dir, universe={"min_history": 1})
    u = np.asarray(panel.universe)
    assert not u[:10, 1].any() and u[10:, 1].sum() == T - 10 - 1  # the day-15 gap has no close
    assert u[:44, 2].sum() >= 40 and not u[45:, 2].any()
    # a narrower market file shrinks the membership, not the data
    (qlib_dir / "instruments" / "small.txt").write_text("AAA\t2020-01-01\t2020-01-31\n")
    small = load_qlib(qlib_dir, market="small", universe={"min_history": 1})
    assert list(small.tickers) == ["AAA"]
    assert not np.asarray(small.universe)[25:, 0].any()


def test_field_selection(qlib_dir: Path) -> None:
    panel = load_panel(qlib_dir, fields=["$close", "volume"])
    assert set(panel.metadata["qlib_fields"]) == {"close", "volume"}
    with pytest.raises(DataError, match="close"):
        load_qlib(qlib_dir, fields=["open"])


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty"),
        (b"\x00\x00\x80", "not a whole number of float32"),
        (np.array([70.0, 1.0], dtype="<f4").tobytes(), "start index"),
        (np.array([2.5, 1.0], dtype="<f4").tobytes(), "start index"),
        (np.hstack([[55.0], np.ones(10)]).astype("<f4").tobytes(), "run past"),
    ],
)
def test_corrupt_file_is_named(qlib_dir: Path, payload: bytes, message: str) -> None:
    bad = qlib_dir / "features" / "bbb" / "volume.day.bin"
    bad.write_bytes(payload)
    with pytest.raises(DataError, match=message) as err:
        load_panel(qlib_dir)
    assert str(bad) in str(err.value)


def test_missing_pieces_are_named(qlib_dir: Path) -> None:
    (qlib_dir / "features" / "ccc" / "close.day.bin").unlink()
    with pytest.raises(DataError, match=r"ccc.close\.day\.bin"):
        load_qlib(qlib_dir)
    (qlib_dir / "instruments" / "all.txt").write_text("AAA\t2020-01-01\n")
    with pytest.raises(DataError, match="all.txt: line 1"):
        load_qlib(qlib_dir)
    with pytest.raises(DataError, match="csi300.txt"):
        load_qlib(qlib_dir, market="csi300")
    (qlib_dir / "calendars" / "day.txt").write_text("2020-01-02\nnot a date\n")
    with pytest.raises(DataError, match="day.txt: line 2"):
        load_qlib(qlib_dir)


def test_read_bin_aligns_to_the_calendar(tmp_path: Path) -> None:
    p = tmp_path / "x.day.bin"
    _write_bin(p, 3, np.array([1.0, 2.0]))
    col = read_bin(p, 8)
    assert col.shape == (8,)
    np.testing.assert_array_equal(col[3:5], [1.0, 2.0])
    assert np.isnan(col[:3]).all() and np.isnan(col[5:]).all()


# ------------------------------------------------------------------ cross-check with Qlib's engine
QLIB_VS_OURS = (
    "$close",
    "$volume",
    "Ref($close, 1)",
    "Mean($close, 5)",
    "Std($close, 5)",
    "$close/Ref($close, 5)-1",
    "Max($high, 10)",
)


def test_pyqlib_cross_check(qlib_dir: Path) -> None:
    qlib = pytest.importorskip("qlib")
    from qlib.data import D

    from alpha_env.evaluate import evaluate
    from alpha_env.grammar import parse

    qlib.init(provider_uri=str(qlib_dir), region="us", kernels=1, expression_cache=None,
              dataset_cache=None)
    panel = load_qlib(qlib_dir)
    theirs = D.features(["AAA", "BBB", "CCC"], list(QLIB_VS_OURS), start_time="2020-01-01",
                        end_time=str(panel.dates[-1]), freq="day")
    for expr in QLIB_VS_OURS:
        ours = evaluate(parse(expr, dialect="qlib"), panel)
        wide = theirs[expr].unstack(level=0).reindex(
            index=pd.DatetimeIndex(panel.dates.astype("datetime64[ns]")), columns=list(panel.tickers))
        q = wide.to_numpy(dtype=np.float64)
        # Qlib's rolling windows use min_periods=1; ours need the whole window: compare where both exist,
        # and require ours to be defined wherever Qlib's full window is
        both = np.isfinite(q) & np.isfinite(ours)
        assert both.sum() > 0.5 * np.isfinite(q).sum(), expr
        np.testing.assert_allclose(ours[both], q[both], rtol=1e-5, atol=1e-6, err_msg=expr)
