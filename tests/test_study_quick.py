"""The real-data study runs end to end in --quick mode and writes its report, charts and raw results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def study_real_data(experiments):
    return experiments("study_real_data")


def _check_outputs(out: Path, doc: dict, datasets: list[str]) -> None:
    md = (out / "results.md").read_text()
    raw = json.loads((out / "results" / "study.json").read_text())
    assert raw["commit"] == doc["commit"] and raw["commit"] in md
    assert "quick mode" in md
    for name in datasets:
        for cost in ("0", "5"):
            assert f"## {name}, {cost} bps" in md
            assert (out / "results" / f"test_pnl_{name}_{cost}bps.png").stat().st_size > 1000
    runs = raw["runs"]
    for r in runs:
        assert not r["note"].startswith("failed"), r
    gp = [r for r in runs if r["method"] == "gp"]
    assert len(gp) == 2 * 2 * len(datasets)  # 2 seeds x 2 costs per dataset
    assert all(r["evaluations"] == 16 for r in gp)  # the quick budget, spent exactly
    lib = [r for r in runs if r["method"] == "alpha101"]
    assert all(r["evaluations"] == 101 and r["seed"] is None for r in lib)
    for r in runs:
        if r["best"]:
            assert r["distinct"] >= 1 and 0.0 <= r["dsr"] <= 1.0
    assert "The paper's own figures" in md and "15.9%" in md


def test_quick_study_on_the_synthetic_market(tmp_path, study_real_data):
    doc = study_real_data.main(["--quick", "--datasets", "synthetic", "--out", str(tmp_path),
                                "--no-progress"])
    _check_outputs(tmp_path, doc, ["synthetic"])
    assert doc["datasets"]["synthetic"]["shape"] == [300, 60]


@pytest.mark.real_data
def test_quick_study_on_sp500(tmp_path, study_real_data):
    if not (DATA / "sp500_2013_2018").exists():
        pytest.skip("../shared/data/sp500_2013_2018 is absent")
    doc = study_real_data.main(["--quick", "--datasets", "sp500_2013_2018", "--data-root", str(DATA),
                                "--out", str(tmp_path), "--no-progress"])
    _check_outputs(tmp_path, doc, ["sp500_2013_2018"])
    assert doc["datasets"]["sp500_2013_2018"]["neutralization"] == "sector"


def test_arguments_and_bad_method(tmp_path, study_real_data):
    args = study_real_data.parse_arguments(["--seeds", "3", "4", "--costs", "5", "--budget", "7"])
    assert args.seeds == [3, 4] and args.costs == [5.0] and args.budget == 7
    from alpha_env.errors import SettingsError

    with pytest.raises(SettingsError, match="unknown method"):
        study_real_data.main(["--quick", "--datasets", "synthetic", "--methods", "magic",
                              "--out", str(tmp_path)])


def test_news_sentiment_becomes_a_field_the_searches_can_use(tmp_path, study_real_data):
    import numpy as np
    import pandas as pd

    from alpha_env.data import synthetic_market

    panel = synthetic_market(seed=0)
    rng = np.random.default_rng(0)
    rows = [(str(panel.dates[t]), panel.tickers[j], float(rng.uniform(-1, 1)))
            for t in range(0, 300, 3) for j in range(0, 60, 7)]
    path = tmp_path / "news_sentiment.parquet"
    pd.DataFrame(rows, columns=["date", "ticker", "news_sentiment"]).to_parquet(path)
    doc = study_real_data.main(["--quick", "--datasets", "synthetic", "--methods", "alpha101", "gp",
                                "--costs", "0", "--news-sentiment", str(path), "--out", str(tmp_path / "o"),
                                "--no-progress"])
    info = doc["datasets"]["synthetic"]
    assert "news_sentiment" in info["fields"]
    assert info["news_sentiment"]["used"] == len(rows) and info["news_sentiment"]["file"] == str(path)
