"""CLI: simulate / top / report / submit on the embedded market and on real data."""

from __future__ import annotations

import json
import os
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


# -- issue 19: damaged stores, read commands, rough edges ----------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 2, argv
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("alpha-env "), err
    assert "Traceback" not in err and all(n in err for n in needles), (err, needles)
    return err


@pytest.mark.parametrize("kind", ["pages", "metrics_json", "pnl_blob", "missing_tables"])
def test_read_commands_on_damaged_stores_exit_2_naming_the_store(workdir, capsys, kind):
    from test_ace_store import damaged_store

    path = damaged_store(workdir, kind)
    _one_line_error(capsys, ["report", "a1", "--db", str(path)], str(path))
    if kind != "pnl_blob":  # top reads no PnL
        _one_line_error(capsys, ["top", "--db", str(path), "--json"], str(path))


def test_foreign_db_is_refused_by_every_command(workdir, capsys):
    import sqlite3

    path = workdir / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.close()
    for argv in (["top"], ["report", "a1"], ["submit", "a1"], ["simulate", "rank(close)", "--no-png"]):
        _one_line_error(capsys, [*argv, "--db", str(path)], "not an alpha-env store", str(path))


def test_read_commands_never_create_a_store(workdir, capsys):
    _one_line_error(capsys, ["report", "0123456789abcdef", "--db", "missing.db"],
                    "no alpha store at missing.db")
    _one_line_error(capsys, ["top", "--db", "missing.db"], "no alpha store at missing.db")
    _one_line_error(capsys, ["top"], "no alpha store at alpha_env.db")
    assert list(workdir.iterdir()) == []


def test_top_unknown_split_and_rows_with_dataset_and_settings(workdir, capsys):
    from test_ace_store import fake_result

    from alpha_env.ace import AlphaStore

    with AlphaStore(workdir / "t.db") as store:
        for aid, ds, delay in (("x1", "aaaaaaaa11112222", 1), ("x2", "bbbbbbbb33334444", 0)):
            r = fake_result(aid, expression="rank(close)")
            r.metadata.update(dataset_id=ds, settings={"delay": delay, "neutralization": "sector",
                                                       "decay": 4, "cost_bps": 2.5})
            store.save(r)
    _one_line_error(capsys, ["top", "--split", "foo", "--db", "t.db"], "'foo'", "train, valid, test, all")
    assert main(["top", "--db", "t.db"]) == 0
    out = capsys.readouterr().out
    words = out.split()  # a narrow terminal may wrap a cell, never a word
    assert {"aaaaaaaa", "bbbbbbbb", "d1", "d0", "sector", "dc4", "2.5bps"} <= set(words), out
    code, rows = _json(capsys, ["top", "--db", "t.db", "--json"])
    assert code == 0 and {r["dataset_id"] for r in rows} == {"aaaaaaaa11112222", "bbbbbbbb33334444"}
    assert rows[0]["settings"]["neutralization"] == "sector"


@pytest.mark.parametrize(
    "argv",
    [["parse", "-rank(close)"], ["parse", "-rank(close)", "--json"], ["parse", "--json", "-rank(close)"],
     ["parse", "--units", "-rank(close)"]],
)
def test_parse_accepts_a_leading_minus(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert ('"canonical": "-rank(close)"' in out) if "--json" in argv else ("canonical : -rank(close)" in out)


def test_options_that_start_with_a_minus_stay_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["parse", "-h"])
    assert exc.value.code == 0 and "usage: alpha-env parse" in capsys.readouterr().out
    assert main(["parse", "--json", "--", "-close"]) == 0  # an explicit "--" is left alone
    assert '"canonical": "-close"' in capsys.readouterr().out


def test_help_is_instant_and_imports_no_numba(tmp_path):
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "alpha_env", "--help"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0 and "simulate" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert imported and not imported & {"numba", "scipy", "pandas", "torch", "matplotlib"}, imported
    assert wall < 5.0  # ~0.05 s on an idle core; generous for a loaded CI machine
    check = ("import sys\nfrom alpha_env.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
             "    pass\nassert 'numba' not in sys.modules and 'scipy' not in sys.modules\n")
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, env=env, cwd=tmp_path,
                          timeout=60).returncode == 0


def test_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "alpha_env", "parse", "rank(close)", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    proc.stdout.close()  # the reader is gone before the first write, as with `| head -0`
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err


def test_simulate_writes_no_png_unless_asked(workdir, capsys):
    assert main(["simulate", "rank(volume)", "--no-store"]) == 0
    assert "PnL plot" not in capsys.readouterr().out
    assert not list(workdir.glob("*.png"))
