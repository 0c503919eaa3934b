"""alpha-env library: the 101 alphas and Alpha158 listed, simulated, ranked on train, pooled."""

from __future__ import annotations

import json

from alpha_env.cli import main


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_both_libraries(capsys):
    code, out, _ = _run(capsys, ["library", "list", "--json"])
    rows = json.loads(out)
    assert code == 0 and len(rows) == 101 and rows[0]["name"] == "Alpha#1"
    code, out, _ = _run(capsys, ["library", "list", "--library", "alpha158", "--json"])
    rows = json.loads(out)
    assert code == 0 and len(rows) == 158
    assert {"name": "KMID", "text": "($close-$open)/$open", "canonical": "(close - open) / open"} in rows


def test_simulate_ranks_on_train_and_pools(capsys):
    code, out, _ = _run(capsys, ["library", "simulate", "--library", "alpha158", "--data", "synthetic:1",
                                 "--no-store", "--json", "--n", "3", "--pool"])
    doc = json.loads(out)
    assert code == 0 and doc["simulated"] == 158 and not doc["failed"]
    trains = [row["sharpe"]["train"] for row in doc["top"]]
    assert len(trains) == 3 and trains == sorted(trains, reverse=True)
    assert doc["pool"]["size"] >= 1 and "valid" in doc["pool"]["metrics"]


def test_bad_split_is_a_one_line_error(capsys):
    code, _, err = _run(capsys, ["library", "simulate", "--rank-by", "nope", "--no-store"])
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1
