"""CLI of issue 15: ``alpha-env pool simulate|build|show`` and ``top`` with costs, checks and counts."""

from __future__ import annotations

import json

import pytest

from alpha_env.cli import main

FIVE = ["rank(-delta(close, 5))", "ts_rank(volume, 10)", "rank(close)", "ts_mean(returns, 5)",
        "delta(volume, 3)"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALPHA_ENV_DB", raising=False)
    return tmp_path


def _json(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _error(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_pool_simulate_show_and_top(workdir, capsys):
    out = _json(capsys, ["pool", "simulate", *FIVE, "--json"])
    assert out["stored"] and (workdir / "alpha_env.db").exists()
    assert len(out["members"]) == 5 and out["model"] == "lstsq" and out["in_sample"] == ["train"]
    assert all(isinstance(m["weight"], float) for m in out["members"])
    assert out["key"].startswith("pool[lstsq,h=1](")
    assert set(out["metrics"]) == {"train", "valid", "test", "all"}
    for m in out["metrics"].values():
        assert set(m) == {"ic", "rank_ic", "sharpe_gross", "sharpe", "turnover"}
        assert m["sharpe_gross"] == pytest.approx(m["sharpe"])  # default cost 0
    shown = _json(capsys, ["pool", "show", out["pool_id"], "--json"])
    assert shown["members"] == out["members"] and shown["metrics"] == out["metrics"]
    assert shown["key"] == out["key"]
    top = _json(capsys, ["top", "--json"])
    assert top[0]["alpha_id"] == out["pool_id"] and top[0]["is_pool"]
    assert _json(capsys, ["top", "--no-pools", "--json"]) == []
    # the same pool again: same id, no new rows; another horizon: another pool
    again = _json(capsys, ["pool", "simulate", *FIVE, "--json"])
    assert again["pool_id"] == out["pool_id"]
    h5 = _json(capsys, ["pool", "simulate", *FIVE, "--horizon", "5", "--json"])
    assert h5["pool_id"] != out["pool_id"] and h5["key"].startswith("pool[lstsq,h=5](")
    # the text output names the weights and the metrics
    assert main(["pool", "show", out["pool_id"]]) == 0
    text = capsys.readouterr().out
    for word in ("weight", "train IC", "Sharpe gross", "Sharpe net", "rank IC", out["pool_id"]):
        assert word in text


def test_pool_simulate_options(workdir, capsys):
    out = _json(capsys, ["pool", "simulate", "--no-store", "--model", "ridge", "--ridge-alpha", "0.1",
                         "--cost-bps", "10", "--json", "--", "-rank(close)", "rank(-delta(close, 5))"])
    assert not out["stored"] and not (workdir / "alpha_env.db").exists()
    assert out["model"] == "ridge" and out["settings"]["cost_bps"] == 10.0
    assert out["metrics"]["train"]["sharpe_gross"] > out["metrics"]["train"]["sharpe"]
    offered = _json(capsys, ["pool", "simulate", "--no-store", "--offer", "--json",
                             "rank(close)", "rank(close) + 0", "rank(-delta(close, 5))"])
    assert len(offered["members"]) == 2  # the second is refused: perfectly correlated, not better
    assert [o["accepted"] for o in offered["offers"]] == [True, False, True]
    _error(capsys, ["pool", "simulate", "rank(close", "--no-store"], "alpha-env pool: error:")
    _error(capsys, ["pool", "simulate", "close", "--model", "nope", "--no-store"], "model", "nope")


def test_pool_simulate_prune(workdir, capsys):
    exprs = ["rank(-delta(close, 5))", "ts_rank(volume, 10)", "rank(high - low)", "-rank(close)",
             "ts_zscore(open, 7)"]
    whole = _json(capsys, ["pool", "simulate", "--no-store", "--json", "--", *exprs])
    pruned = _json(capsys, ["pool", "simulate", "--no-store", "--json", "--prune", "0.3", "--", *exprs])
    info = pruned["pruned"]
    kept = [m["expression"] for m in pruned["members"]]
    assert "pruned" not in whole and len(kept) + len(info["removed"]) == len(whole["members"])
    assert not set(kept) & set(info["removed"])
    assert info["held_ic_after"] >= info["held_ic_before"]
    assert info["fit_rows"][1] < info["held_rows"][0]
    assert info["removed"] and pruned["pool_id"] != whole["pool_id"]  # another pool, so another id
    _error(capsys, ["pool", "simulate", "close", "--prune", "1.5", "--no-store"], "prune holdout")
    _error(capsys, ["pool", "simulate", "close", "--model", "ic_weighted", "--prune", "0.3", "--no-store"],
           "prune applies")


def test_pool_build_from_store(workdir, capsys):
    _error(capsys, ["pool", "build", "--from-store"], "no alpha store")
    for text in FIVE[:3]:
        _json(capsys, ["simulate", text, "--json"])
    err = _error(capsys, ["pool", "build", "--from-store", "--data", "synthetic:1"],
                 "no alpha simulated on dataset", "synthetic:1")
    assert "its datasets:" in err
    out = _json(capsys, ["pool", "build", "--from-store", "--n", "3", "--json"])
    best = _json(capsys, ["top", "--split", "train", "--n", "3", "--no-pools", "--json"])
    assert [o["expression"] for o in out["offers"]] == [r["expression"] for r in best]
    assert 1 <= len(out["members"]) <= 3 and out["stored"]
    assert _json(capsys, ["pool", "show", out["pool_id"], "--json"])["pool_id"] == out["pool_id"]
    # pools are never offered to a new pool
    again = _json(capsys, ["pool", "build", "--from-store", "--n", "20", "--json"])
    assert all(not o["expression"].startswith("pool[") for o in again["offers"])


def test_pool_show_errors(workdir, capsys):
    _json(capsys, ["simulate", "rank(close)", "--json"])
    aid = _json(capsys, ["top", "--json"])[0]["alpha_id"]
    _error(capsys, ["pool", "show", aid], "an alpha, not a pool", aid)
    _error(capsys, ["pool", "show", "zz"], "unknown pool id 'zz'")


def test_top_at_cost_equals_a_simulation_at_that_cost(workdir, capsys):
    _json(capsys, ["simulate", "rank(-delta(close, 5))", "--json"])
    _json(capsys, ["simulate", "ts_rank(volume, 10)", "--json"])
    rows = _json(capsys, ["top", "--split", "valid", "--cost-bps", "5", "--json"])
    for row in rows:
        direct = _json(capsys, ["simulate", row["expression"], "--cost-bps", "5", "--no-store", "--json"])
        for k in ("sharpe", "fitness", "annual_return", "margin_bps", "total_pnl"):
            assert row["at_cost"][k] == pytest.approx(direct["metrics"]["valid"][k], rel=1e-9, abs=1e-12)
        assert row["value"] == row["at_cost"]["sharpe"]
    assert [r["value"] for r in rows] == sorted((r["value"] for r in rows), reverse=True)
    assert rows[0]["checks"][1] >= 5 and rows[0]["metrics"]["long_count"] > 0
    # a metric the cost does not change: stored order, recomputed columns added
    ic = _json(capsys, ["top", "--by", "ic", "--cost-bps", "5", "--json"])
    assert all(r["at_cost"] is not None for r in ic)
    _error(capsys, ["top", "--cost-bps", "-1"], "--cost-bps")
    assert main(["top", "--cost-bps", "5"]) == 0
    text = capsys.readouterr().out
    assert "at 5 bps" in text and "checks" in text and "L/S" in text
