"""CLI: simulate / top / report / submit on the embedded market and on real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alpha_env.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SP500 = DATA / "sp500_2013_2018"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALPHA_ENV_DB", raising=False)
    return tmp_path


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_simulate_top_report_submit_on_embedded_market(workdir, capsys):
    code = main(["simulate", "rank(-delta(close, 5))", "--neutralization", "sector", "--png", "pnl.png"])
    out = capsys.readouterr().out
    assert code == 0
    for word in ("train", "valid", "test", "Sharpe", "Turnover", "submission checks"):
        assert word in out
    assert (workdir / "pnl.png").stat().st_size > 10_000
    assert (workdir / "alpha_env.db").exists()  # default store in the working directory

    code, sim = _json(capsys, ["simulate", "rank(-delta(close, 5))", "--neutralization", "sector",
                               "--json", "--no-png"])
    assert code == 0 and set(sim["metrics"]) == {"train", "valid", "test", "all"}
    aid = sim["alpha_id"]
    code, top = _json(capsys, ["top", "--by", "sharpe", "--split", "valid", "--n", "5", "--json"])
    assert code == 0 and top[0]["alpha_id"] == aid
    assert top[0]["value"] == pytest.approx(sim["metrics"]["valid"]["sharpe"])

    code, rep = _json(capsys, ["report", aid, "--json", "--png", str(workdir / "r.png")])
    assert code == 0 and rep["metrics"] == sim["metrics"] and (workdir / "r.png").exists()

    code, sub = _json(capsys, ["submit", aid, "--json"])
    assert code == (0 if sub["passed"] else 1)
    names = {c["name"] for c in sub["checks"]}
    assert names >= {"sharpe", "fitness", "turnover", "max_weight", "correlation"}
    # a failing threshold -> exit 1, and the attempt is recorded
    assert main(["submit", aid, "--min-sharpe", "1000"]) == 1
    capsys.readouterr()
    code, rep = _json(capsys, ["report", aid, "--json"])
    assert len(rep["submissions"]) == 2


def test_db_from_environment(workdir, capsys, monkeypatch):
    monkeypatch.setenv("ALPHA_ENV_DB", str(workdir / "env.db"))
    assert main(["simulate", "rank(volume)", "--no-png", "--json"]) == 0
    capsys.readouterr()
    assert (workdir / "env.db").exists() and not (workdir / "alpha_env.db").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["simulate", "rank(close +"], "column"),
        (["simulate", "rank(nosuchfield)", "--no-png"], "nosuchfield"),
        (["simulate", "rank(close)", "--truncation", "2"], "truncation"),
        (["report", "0123456789abcdef"], "unknown alpha id"),
        (["submit", "0123456789abcdef"], "unknown alpha id"),
    ],
)
def test_user_errors_are_one_line_exit_2(workdir, capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and err.startswith("alpha-env ")


@pytest.mark.real_data
def test_simulate_on_sp500(workdir, capsys):
    if not SP500.exists():
        pytest.skip(f"real data not found at {SP500}")
    code, sim = _json(capsys, ["simulate", "rank(-delta(close, 5))", "--data", str(SP500),
                               "--neutralization", "sector", "--json", "--png", "sp.png"])
    assert code == 0 and sim["degenerate_reason"] is None
    assert sim["metrics"]["train"]["long_count"] > 150
    assert sim["metadata"]["dataset_id"] and (workdir / "sp.png").exists()
