"""The encoders experiment scripts, run in --quick mode on tiny inputs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from encoders_support import save_tiny_bert

from alpha_env.env.embeddings import EmbeddingTable

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """Import ``experiments/<name>.py`` as a module (its ``main(argv)`` runs in this process)."""
    spec = importlib.util.spec_from_file_location(f"experiments_{name}", ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_encode_documents_quick(tmp_path: Path) -> None:
    model = save_tiny_bert(tmp_path / "model", classifier=True)
    news = pd.DataFrame(
        {
            "date": ["2010-01-04", "2010-01-04", "2010-01-05", "2010-01-05", "2010-01-06"],
            "published": [
                "Mon Jan 4, 2010 9:30am EST",  # before the close → available 2010-01-04
                "Mon Jan 4, 2010 5:15pm EST",  # after the close → 2010-01-05
                "Tue Jan 5, 2010 11:00am EST",
                "Tue Jan 5, 2010 11:00am EST",
                "Wed Jan 6, 2010 8:00pm EST",  # → 2010-01-07
            ],
            "title": [
                "stocks rose",
                "oil prices fell",
                "bank profit beat estimates",
                "bank profit",
                "jobs cut",
            ],
            "tickers": ["AAA", "BBB AAA", "CCC", "", "AAA"],
            "lead": ["the market rose", "oil fell sharply", "earnings beat", "a loss", "record low"],
        }
    )
    news.to_parquet(tmp_path / "news.parquet")
    script = load_script("encode_documents")
    argv = [
        "--news",
        str(tmp_path / "news.parquet"),
        "--model",
        str(model),
        "--sentiment-model",
        str(model),
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--quick",
    ]
    summary = script.main(argv)
    assert summary["texts"] == 5 and summary["days"] == 3 and summary["dim"] == 32
    table = pd.read_parquet(tmp_path / "out" / "document_embeddings.parquet")
    assert [str(d.date()) for d in table.index] == ["2010-01-04", "2010-01-05", "2010-01-07"]
    assert EmbeddingTable.from_frame(table).dim == 32  # the environment reads it as is
    sentiment = pd.read_parquet(tmp_path / "out" / "news_sentiment.parquet")
    aaa = sentiment[sentiment.ticker == "AAA"].set_index("date")
    assert aaa["news_count"].tolist() == [1, 1, 1]
    assert np.all(np.abs(sentiment["news_sentiment"]) <= 1)
    assert json.loads((tmp_path / "out" / "encode_documents.json").read_text())["texts"] == 5
    # A rerun is served entirely from the cache.
    assert script.main(argv)["texts_encoded_now"] == 0


@pytest.mark.slow
def test_pretrain_alpha_encoder_quick(tmp_path: Path) -> None:
    from encoders import AlphaEncoder, load_checkpoint

    script = load_script("pretrain_alpha_encoder")
    summary = script.main(["--quick", "--out", str(tmp_path), "--run-name", "q"])
    assert summary["corpus"] == 400 and len(summary["train_loss"]) == 2
    assert 0.0 <= summary["masked_accuracy_after"] <= 1.0
    assert summary["nearest_neighbour_token_jaccard"] > summary["random_pair_token_jaccard"]
    codebook_version = summary["codebook_version"]
    loaded = load_checkpoint(tmp_path / "q" / "alpha_encoder.pt", codebook_version, kind="alpha_encoder")
    assert isinstance(loaded.model, AlphaEncoder)
    assert json.loads((tmp_path / "q" / "summary.json").read_text())["run"] == "q"


def test_token_jaccard() -> None:
    script = load_script("pretrain_alpha_encoder")
    assert script.token_jaccard([1, 2, 2], [1, 2, 2]) == 1.0
    assert script.token_jaccard([1, 2, 2], [2, 3]) == 1 / 4
    assert script.token_jaccard([], []) == 1.0


@pytest.mark.slow
def test_ablate_fusion_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pretrain = load_script("pretrain_alpha_encoder")
    pretrain.main(["--quick", "--encoder", "both", "--max-len", "16", "--out", str(tmp_path),
                   "--run-name", "enc"])
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))  # doc_conditioning, imported by the script
    script = load_script("ablate_fusion")
    report = script.main(["--quick", "--checkpoint", str(tmp_path / "decoder.pt"), "--quick-pretrain",
                          "--stack-checkpoint", str(tmp_path / "enc" / "alpha_encoder.pt"),
                          "--tree-checkpoint", str(tmp_path / "enc" / "alpha_tree_encoder.pt"),
                          "--out", str(tmp_path / "out")])
    assert [(r["alpha_encoder"], r["fusion"]) for r in report["rows"]] == [("none", "-"), ("stack", "concat")]
    for row in report["rows"]:
        assert set(row) >= {"matching", "shuffled", "difference", "matching_valid"}
    saved = json.loads((tmp_path / "out" / "ablate_fusion.json").read_text())
    assert saved["provenance"]["seeds"] == [0] and (tmp_path / "out" / "ablate_fusion.png").is_file()
    assert "| none | - |" in (tmp_path / "out" / "ablate_fusion.md").read_text()


def test_ablate_fusion_real_market_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    script = load_script("ablate_fusion")
    code = script.cli(["--market", "us_2006_2013", "--data-root", str(tmp_path / "nowhere"), "--quick",
                       "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "us_2006_2013" in err and "not found" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
@pytest.mark.real_data
def test_ablate_fusion_us_market_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (ROOT.parent / "shared" / "data" / "us_2006_2013" / "news.parquet").exists():
        pytest.skip("../shared/data/us_2006_2013 is absent")
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    script = load_script("ablate_fusion")
    report = script.main(["--quick", "--market", "us_2006_2013", "--alpha-encoders", "none",
                          "--checkpoint", str(tmp_path / "decoder.pt"), "--quick-pretrain",
                          "--out", str(tmp_path / "out")])
    # the real market: its own file stem, no planted regime (NaN calm/stressed), the study's backtest
    assert [(r["alpha_encoder"], r["fusion"]) for r in report["rows"]] == [("none", "-")]
    assert report["args"]["market"] == "us_2006_2013" and report["args"]["n_stocks"] == 40
    run = report["runs"][0]["heldout"]
    assert np.isnan(run["calm"]) and np.isnan(run["stressed"]) and run["n"] > 0
    assert report["markdown"].startswith("us_2006_2013 (40 stocks, Reuters news")
    assert (tmp_path / "out" / "ablate_fusion_us_2006_2013.json").is_file()
    assert not (tmp_path / "out" / "ablate_fusion.json").exists()
    assert script.file_stem(script.Args(market="us_2006_2013", name="other")) == "other"
