"""The factor tear sheet: built for an alpha on the synthetic market, rendered and opened as an image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alpha_env.ace import ACE, AlphaStore
from alpha_env.ace.tearsheet import PANEL_TITLES, build_tearsheet, render_png, write_tearsheet
from alpha_env.data import synthetic_market
from alpha_env.errors import DataError

EXPR = "rank(-delta(close, 5))"


@pytest.fixture(scope="module")
def panel():  # type: ignore[no-untyped-def]
    return synthetic_market(seed=0, n_stocks=40, n_days=300, news=False)


@pytest.fixture(scope="module")
def result(panel):  # type: ignore[no-untyped-def]
    return ACE(panel, settings={"cost_bps": 5.0}).simulate(EXPR, save=False)


def test_factor_figures(panel, result) -> None:  # type: ignore[no-untyped-def]
    sheet = build_tearsheet(result, panel, decay_horizons=(1, 2, 5))
    assert sheet.has_factor and set(sheet.factor) == {*panel.splits, "all"}
    assert sheet.ic.shape == sheet.rank_ic.shape == (panel.n_dates,)
    assert np.nanmean(sheet.rank_autocorr) > 0.0
    assert 0.0 <= np.nanmin(sheet.signal_turnover) <= np.nanmax(sheet.signal_turnover) <= 1.0
    assert list(sheet.factor["all"]["ic_decay"]) == [1, 2, 5]
    assert len(sheet.factor["train"]["quantile_returns"]) == 5
    # gross minus net is the cost; the drawdown is never positive
    cost = 5e-4 * np.asarray(result.turnover)
    np.testing.assert_allclose(sheet.gross_pnl - sheet.pnl, cost, atol=1e-12)
    assert (sheet.drawdown <= 1e-15).all()
    assert sheet.long_count is not None and sheet.long_count.max() > 0


def test_png_opens_with_the_right_size(panel, result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.image as mpimg

    png, page = write_tearsheet(build_tearsheet(result, panel, decay_horizons=(1, 5)), tmp_path / "ts.png")
    assert png.name == "ts.png" and page.name == "ts.html"
    img = mpimg.imread(png)
    assert img.shape[:2] == (16 * 80, 14 * 80)       # 4 rows of 4 inches, 14 inches wide, 80 dpi
    assert img[..., :3].std() > 0.05                   # not a blank page
    text = page.read_text()
    assert "data:image/png;base64," in text
    for title in PANEL_TITLES.values():
        assert title.split(" (")[0] in text
    assert "delay 1" in text and "cost 5.0 bps" in text


def test_without_data_only_pnl_panels(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.image as mpimg

    sheet = build_tearsheet(result)
    assert not sheet.has_factor
    img = mpimg.imread(render_png(sheet, tmp_path / "pnl.png"))
    assert img.shape[:2] == (8 * 80, 14 * 80)


def test_wrong_dataset_is_named(result) -> None:  # type: ignore[no-untyped-def]
    other = synthetic_market(seed=1, n_stocks=40, n_days=300, news=False)
    with pytest.raises(DataError, match="simulated on dataset"):
        build_tearsheet(result, other)


def test_cli_report_tearsheet(panel, result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from alpha_env.cli import main

    db = tmp_path / "a.db"
    with AlphaStore(str(db)) as store:
        store.save(result)
    rc = main(["report", result.alpha_id, "--db", str(db), "--tearsheet", str(tmp_path / "t"), "--json"])
    assert rc == 0
    assert (tmp_path / "t.png").is_file() and (tmp_path / "t.html").is_file()
