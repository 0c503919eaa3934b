"""The real-data study (round 2: pools) runs end to end in --quick mode and writes its report, charts and
raw results; its pieces (options, target check, families, executors) behave as documented."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def study_real_data(experiments):
    return experiments("study_real_data")


def _check_outputs(out: Path, doc: dict, datasets: list[str], methods: list[str]) -> None:
    md = (out / "results.md").read_text()
    raw = json.loads((out / "results" / "study.json").read_text())
    assert raw["commit"] == doc["commit"] and raw["commit"] in md
    assert "quick mode" in md and "Target:" in md and raw["target"]["status"] in ("met", "not met")
    assert "## Anchors: published figures" in md
    for name in datasets:
        assert f"## {name}" in md
        for kind in ("pnl", "curve", "families"):
            assert (out / "results" / f"{kind}_{name}.png").stat().st_size > 1000
    runs = raw["runs"]
    for r in runs:
        assert not r["note"].startswith("failed"), r
        assert not r["incomplete"], r
    assert {r["method"] for r in runs} == set(methods)
    gp = [r for r in runs if r["method"] == "gp"]
    assert all(r["evaluations"] == 16 for r in gp)  # the quick budget, spent exactly
    for name in datasets:
        assert len([r for r in gp if r["dataset"] == name]) == 2  # 2 seeds
    for lib, n in (("alpha101", 101), ("alpha158", 158)):
        rs = [r for r in runs if r["method"] == lib]
        assert all(r["evaluations"] == n and r["seed"] is None for r in rs)
        assert all(r["pool"] is None or 1 <= r["pool"]["size"] <= 5 for r in rs)  # the quick pool of 5
    for r in runs:
        if r["method"] in ("ppo_pretrained", "ppo_random", "ppo_docs", "alphagen", "random"):
            assert r["evaluations"] >= 16
        if r["single"]:
            assert r["distinct"] >= 1 and 0.0 <= r["single"]["dsr"] <= 1.0
            assert set(r["single"]["test"]) >= {"ic", "rank_ic", "icir", "sharpe_gross", "sharpe_net",
                                                "turnover", "max_drawdown"}
        if r["pool"]:
            assert len(r["test_pnl"]["pool"]) == len(doc["datasets"][r["dataset"]]["test_dates"])
    assert "The paper's own figures" in md and "15.9%" in md


@pytest.mark.slow
def test_quick_study_on_the_synthetic_market_runs_every_method(tmp_path, study_real_data):
    # two worker processes: every method's job through the local process pool, on both cores
    doc = study_real_data.main(["--quick", "--datasets", "synthetic", "--out", str(tmp_path),
                                "--no-progress", "--workers", "2"])
    from alpha_env.search.study import ALL_METHODS

    _check_outputs(tmp_path, doc, ["synthetic"], list(ALL_METHODS))
    assert doc["datasets"]["synthetic"]["shape"] == [300, 60]
    assert all(r["pool"] for r in doc["runs"] if r["method"] in ("alpha101", "alpha158"))  # planted effects
    curves = [r for r in doc["runs"] if r["method"] == "alpha158"][0]["curve"]
    assert curves and all(a[0] < b[0] for a, b in zip(curves, curves[1:]))  # evaluations increase


@pytest.mark.real_data
def test_quick_study_on_sp500(tmp_path, study_real_data):
    if not (DATA / "sp500_2013_2018").exists():
        pytest.skip("../shared/data/sp500_2013_2018 is absent")
    methods = ["gp", "random", "alpha101", "alpha158"]
    doc = study_real_data.main(["--quick", "--datasets", "sp500_2013_2018", "--data-root", str(DATA),
                                "--methods", *methods, "--out", str(tmp_path), "--no-progress"])
    _check_outputs(tmp_path, doc, ["sp500_2013_2018"], methods)
    assert doc["datasets"]["sp500_2013_2018"]["neutralization"] == "sector"


def test_arguments_and_bad_method(tmp_path, study_real_data):
    args = study_real_data.parse_arguments(["--seeds", "3", "4", "--costs", "5", "--budget", "7",
                                            "--pool-capacity", "7", "--pool-min-ic-t", "2", "--workers", "2"])
    assert args.seeds == [3, 4] and args.costs == [5.0] and args.budget == 7 and args.workers == 2
    assert args.pool.capacity == 7 and args.pool.min_ic_t == 2.0
    defaults = study_real_data.parse_arguments([])
    assert defaults.budget == 20_000 and defaults.ray is None and defaults.pool.min_ic_t == 3.0
    assert defaults.out.endswith("runs/study")
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
    doc = study_real_data.main(["--quick", "--datasets", "synthetic", "--methods", "alpha101",
                                "--costs", "0", "--news-sentiment", str(path), "--out", str(tmp_path / "o"),
                                "--no-progress"])
    info = doc["datasets"]["synthetic"]
    assert "news_sentiment" in info["fields"]
    assert info["news_sentiment"]["used"] == len(rows) and info["news_sentiment"]["file"] == str(path)


def test_pool_options_rebuild_the_same_pool_in_the_ppo_runs():
    from alpha_env.env.settings import EnvSettings
    from alpha_env.options import parse_args
    from alpha_env.pool import PoolSettings
    from alpha_env.search.study_methods import alphagen_pool, pool_options

    for pool in (PoolSettings(min_ic_t=3.0, capacity=7), alphagen_pool(PoolSettings(min_ic_t=3.0))):
        assert parse_args(EnvSettings, pool_options(pool)).pool == pool
    ag = alphagen_pool(PoolSettings(min_ic_t=3.0, capacity=9))
    assert ag.rule == "alphagen" and ag.capacity == 9 and ag.min_ic_t == 0.0 and ag.max_corr == 0.99
    assert alphagen_pool(PoolSettings(min_half_ic_t=2.0)).min_half_ic_t == 0.0


def test_families_count_each_operator_and_field_once_per_member():
    from alpha_env.search.study_judge import families

    fam = families(["rank(-delta(close, 5))", "rank(close) + rank(volume)", "ts_rank(volume, 10)"])
    ops = dict(map(tuple, fam["operators"]))
    fields = dict(map(tuple, fam["fields"]))
    assert ops["rank"] == 2 and ops["ts_rank"] == 1 and fields == {"close": 2, "volume": 2}


def _run(method: str, dataset: str, seed: int | None, rank_ic: float, sharpe: float, dsr: float) -> dict:
    figures = {"rank_ic": rank_ic, "sharpe_net": sharpe}
    return {"dataset": dataset, "method": method, "seed": seed, "note": "", "incomplete": False,
            "pool": {"test": figures, "dsr": dsr}}


def test_target_check_needs_one_and_a_half_times_the_best_baseline_and_a_dsr_above_095():
    from alpha_env.search.study_judge import target_check

    base = [_run("gp", "a", 0, 0.02, 1.0, 0.5), _run("gp", "a", 1, 0.04, 2.0, 0.5),  # mean 0.03, 1.5
            _run("alpha158", "a", None, 0.01, 1.8, 0.9)]
    ppo = [_run("ppo_pretrained", "a", 0, 0.045, 2.7, 0.97), _run("ppo_random", "a", 0, 0.045, 2.6, 0.97),
           _run("ppo_docs", "a", 0, 0.05, 3.0, 0.90)]
    out = target_check(base + ppo, ["a"])
    d = out["datasets"]["a"]
    assert d["best_baseline_rank_ic"] == pytest.approx(0.03) and d["best_baseline_sharpe_net"] == 1.8
    assert d["ppo"]["ppo_pretrained"]["met"]  # 0.045 >= 0.045, 2.7 >= 2.7, DSR 0.97
    assert not d["ppo"]["ppo_random"]["met"]  # Sharpe 2.6 < 2.7
    assert not d["ppo"]["ppo_docs"]["met"]  # DSR 0.90
    assert out["status"] == "met"
    assert target_check(base + ppo + [_run("gp", "b", 0, 0.01, 1.0, 0.5)], ["a", "b"])["status"] == "not met"
    negative = target_check([_run("gp", "a", 0, -0.01, -1.0, 0.1), _run("ppo_pretrained", "a", 0, 0.001, 0.1,
                                                                          0.99)], ["a"])
    assert negative["status"] == "met" and not math.isnan(negative["datasets"]["a"]["best_baseline_rank_ic"])


def _comparable(runs: list[dict]) -> list[dict]:
    drop = {"seconds", "search_seconds", "judge_seconds", "evals_per_second"}
    return [{k: v for k, v in r.items() if k not in drop} for r in runs]


@pytest.mark.slow
def test_same_results_serially_and_in_local_processes():
    from alpha_env.search.study import StudySettings, apply_quick, run_study

    settings = apply_quick(StudySettings(quick=True, datasets=["synthetic"], methods=["gp", "random"],
                                         seeds=[0], n_dates=200, n_stocks=30, progress=False))
    serial = run_study(settings, "serial").runs
    import dataclasses

    parallel = run_study(dataclasses.replace(settings, workers=2), "processes").runs
    assert _comparable(serial) == _comparable(parallel)
    assert all(not r["note"] for r in serial)


@pytest.mark.ray
@pytest.mark.slow
def test_same_results_as_ray_tasks(ray_local):
    import dataclasses

    from alpha_env.search.study import StudySettings, apply_quick, run_study

    settings = apply_quick(StudySettings(quick=True, datasets=["synthetic"], methods=["random", "alpha101"],
                                         seeds=[0], n_dates=200, n_stocks=30, progress=False))
    serial = run_study(settings, "serial").runs
    on_ray = run_study(dataclasses.replace(settings, ray="auto"), "ray")
    assert _comparable(serial) == _comparable(on_ray.runs) and on_ray.doc["executor"] == "ray auto"


def test_a_saved_job_is_reused_only_with_the_same_settings_at_a_clean_commit(tmp_path, monkeypatch):
    """A study cut short keeps its finished jobs: run_job saves each summary and a rerun with the same
    settings at the same clean commit reads it back; other settings, or a dirty tree, run the job again."""
    import dataclasses

    from alpha_env.search import study as study_mod
    from alpha_env.search.study import StudyJob, StudySettings, job_file, run_job

    calls = []

    def fake_run(job, panel, args):
        calls.append(args.budget)
        return None

    def fake_judge(job, panel, run, args, seconds):
        return {"method": job.method, "budget": args.budget}

    monkeypatch.setattr("alpha_env.search.study_methods.run_method", fake_run)
    monkeypatch.setattr("alpha_env.search.study_judge.judge", fake_judge)
    monkeypatch.setattr(study_mod, "load_dataset", lambda source, args: None)
    args = StudySettings(datasets=["synthetic"], methods=["gp"], budget=10, jobs_dir=str(tmp_path))
    job = StudyJob("synthetic", "synthetic", "gp", 0)
    assert run_job(job, args, "abc") == {"method": "gp", "budget": 10} and calls == [10]
    assert job_file(job, args).exists()
    assert run_job(job, args, "abc") == {"method": "gp", "budget": 10} and calls == [10]  # reused
    assert run_job(job, args, "abc+dirty")["budget"] == 10 and calls == [10, 10]  # dirty: run again
    other = dataclasses.replace(args, budget=12)
    assert run_job(job, other, "abc")["budget"] == 12 and calls == [10, 10, 12]  # other settings
    assert run_job(job, args, "def")["budget"] == 10 and calls == [10, 10, 12, 10]  # other commit
    job_file(job, args).write_text("{not json")
    assert run_job(job, args, "def")["budget"] == 10 and calls[-1] == 10 and len(calls) == 5
