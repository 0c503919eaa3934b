"""The main job end to end via subprocess with a tiny budget: TensorBoard tags, stored alphas, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "train_ppo.py"

TAGS = (
    "rollout/ep_rew_mean", "rollout/ep_len_mean", "train/approx_kl", "train/value_loss",
    "train/learning_rate", "alpha/best_sharpe_train", "alpha/best_sharpe_valid", "alpha/valid_rate",
    "alpha/unique_rate", "alpha/mean_length", "alpha/cache_hit_rate",
)
TEXT_TAGS = ("alpha/top_alphas/text_summary", "hparams/table/text_summary")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_train_ppo_end_to_end_then_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from alpha_env.ace import AlphaStore

    tiny = ["--n-envs", "2", "--n-steps", "32", "--batch-size", "32", "--n-epochs", "1", "--no-progress",
            "--time-limit-minutes", "3", "--checkpoint", str(tmp_path / "decoder.pt"), "--quick-pretrain",
            "--runs-dir", str(tmp_path / "runs"), "--show-top", "5"]
    first = _run(["--total-timesteps", "128", "--exp-name", "e2e", "--glitch-factor", "1.5", *tiny], tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "pretraining one first" in first.stdout  # the missing checkpoint was produced and said so
    assert (tmp_path / "decoder.pt").is_file()
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("AlphaStack-v0__e2e__0__")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["timesteps"] >= 128 and summary["evaluations"] > 0
    assert summary["simulation_settings"]["glitch_factor"] == 1.5  # rewards book cleaned returns
    evaluated = summary["evaluated"]  # every distinct valid alpha (the study re-simulates them all)
    assert len(evaluated) == len(set(evaluated)) == summary["unique_alphas"] > 0
    assert {row["expression"] for row in summary["top"]} <= set(evaluated)
    assert "Alpha database" in first.stdout and str(run_dir) in first.stdout.replace("\n", "")

    events = list(run_dir.glob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(events[0]), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    missing = [t for t in TAGS if t not in tags["scalars"]]
    assert not missing, (missing, tags["scalars"])
    assert all(t in tags["tensors"] for t in TEXT_TAGS), tags["tensors"]
    assert "alpha/best_pnl" in tags["images"], tags["images"]  # the best alpha's PnL as an image
    table = acc.Tensors("alpha/top_alphas/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "Sharpe valid" in table

    with AlphaStore(run_dir / "alphas.db") as store:
        assert store.counts()["alphas"] > 0
        best = summary["top"][0]
        assert best["alpha_id"] in store

    # --resume continues the same run: up to its total budget, with its counters and best-so-far curve
    total = summary["timesteps"] + 64
    resumed = _run(["--resume", str(run_dir), "--total-timesteps", str(total), *tiny], tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout
    after = json.loads((run_dir / "summary.json").read_text())
    assert after["timesteps"] >= summary["timesteps"] + 64
    assert after["timesteps"] < summary["timesteps"] + 2 * 64 + 64  # not another full budget
    assert after["evaluations"] > summary["evaluations"]
    assert after["best_so_far"][: len(summary["best_so_far"])] == summary["best_so_far"]
    assert set(summary["evaluated"]) <= set(after["evaluated"])


@pytest.mark.slow
@pytest.mark.slow
def test_the_auto_pretrained_actor_does_not_depend_on_the_run_seed(tmp_path):
    """A run that finds the shared checkpoint missing pretrains it with the pretraining's own seed, so the
    file every later run reads is the same whichever run (seed) created it (the study's side-by-side
    workers once wrote a seed-1 actor there)."""
    import torch

    from agents.runs import ensure_pretrained
    from alpha_env.grammar import Codebook

    run = _run(["--seed", "3", "--total-timesteps", "16", "--n-envs", "2", "--n-steps", "8",
                "--batch-size", "8", "--n-epochs", "1", "--no-progress", "--quick-pretrain",
                "--checkpoint", str(tmp_path / "by_run.pt"), "--runs-dir", str(tmp_path / "runs")], tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the caller's thread count does not reach the file (the job uses 1)
    try:
        ensure_pretrained(tmp_path / "direct.pt", Codebook.default(), quick=True)
        assert torch.get_num_threads() == 2  # and is restored
    finally:
        torch.set_num_threads(threads)
    by_run = torch.load(tmp_path / "by_run.pt", weights_only=False)["state_dict"]
    direct = torch.load(tmp_path / "direct.pt", weights_only=False)["state_dict"]
    assert by_run.keys() == direct.keys()
    assert all(torch.equal(by_run[k], direct[k]) for k in by_run)


def test_train_ppo_bad_arguments_fail_clearly(tmp_path, experiments, capsys):
    """The script's command entry (``cli``, what ``__main__`` exits with), in this process: an unknown
    choice exits 2 with argparse's message, a missing run folder returns 2 with one line (an uncaught
    exception, i.e. a traceback, would fail the test)."""
    script = experiments("train_ppo")
    with pytest.raises(SystemExit) as bad:
        script.cli(["--algo", "dqn"])
    assert bad.value.code == 2 and "invalid choice" in capsys.readouterr().err
    code = script.cli(["--resume", str(tmp_path / "nope"), "--no-progress"])
    missing = capsys.readouterr()
    assert code == 2 and "train_ppo: error:" in missing.err and "no such run folder" in missing.err


@pytest.mark.slow
def test_doc_mode_with_the_hindsight_stage_starts_ppo_from_the_staged_actor(tmp_path):
    run = _run(["--doc-mode", "--hindsight", "--hindsight-corpus", "20", "--hindsight-epochs", "1",
                "--total-timesteps", "64", "--n-envs", "2", "--n-steps", "32", "--batch-size", "32",
                "--n-epochs", "1", "--no-progress", "--checkpoint", str(tmp_path / "decoder.pt"),
                "--quick-pretrain", "--runs-dir", str(tmp_path / "runs")], tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    staged = run_dir / "hindsight_actor.pt"
    assert staged.is_file() and "Hindsight document stage" in run.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["checkpoint"] == str(staged)


def test_every_setting_of_the_main_job_is_declared_once_in_the_library():
    """The main job's options are generated from the library's settings dataclasses: each backtest,
    universe, env and PPO setting is an option, with the library's default except the job's documented
    choices, and parsing builds (and validates) the nested settings objects."""
    import dataclasses

    from agents.job import PPOJobSettings
    from agents.settings import FineTuneSettings
    from alpha_env.ace import SimulationSettings
    from alpha_env.backtest import BacktestSettings
    from alpha_env.env import EnvSettings
    from alpha_env.errors import SettingsError
    from alpha_env.options import build_parser, option_fields, parse_args

    leaves = {opt.name: opt for opt in option_fields(PPOJobSettings)}
    from alpha_env.pool import PoolSettings

    for cls, prefix in ((BacktestSettings, ""), (SimulationSettings, ""), (EnvSettings, ""),
                        (FineTuneSettings, ""), (PoolSettings, "pool_")):
        names = {prefix + f.name for f in dataclasses.fields(cls)} - {"backtest", "pool"}
        assert names <= set(leaves), (cls.__name__, names - set(leaves))
    job_choices = {"max_len": 15, "cache_bytes": 64 * 2**20, "n_steps": 64,  # documented on PPOJobSettings
                   "reward": "pool", "pool_min_ic_t": 3.0, "pool_model": "conditional",
                   "pool_ridge_alpha": 1.0, "kl_coef": 0.02, "ent_coef": 0.02,
                   "refuse_degenerate": False}
    for name, opt in leaves.items():
        owner = {"simulation": SimulationSettings(), "env": EnvSettings(), "fine_tune": FineTuneSettings()}
        if opt.path[0] in owner and name in job_choices:
            assert opt.default == job_choices[name], name
        elif opt.path[0] in owner:
            value = owner[opt.path[0]]
            for part in opt.path[1:]:
                value = getattr(value, part)
            assert opt.default == value, name
    help_text = build_parser(PPOJobSettings).format_help()
    for flag in ("--reward", "--decay", "--truncation", "--correlation-penalty", "--neutralization"):
        assert flag in help_text
    args = parse_args(PPOJobSettings, ["--delay", "0", "--reward", "ic", "--n-steps", "32", "--decay", "3"])
    assert args.simulation.backtest.delay == 0 and args.simulation.decay == 3
    assert args.env.reward == "ic" and args.env.max_len == 15 and args.fine_tune.n_steps == 32
    with pytest.raises(SettingsError, match="truncation"):
        parse_args(PPOJobSettings, ["--truncation", "2"])


@pytest.mark.slow
def test_compare_rewards_runs_both_rewards_and_judges_both_pools(tmp_path):
    script = ROOT / "experiments" / "compare_rewards.py"
    proc = subprocess.run([sys.executable, str(script), "--seeds", "0", "--total-timesteps", "64",
                           "--n-envs", "2", "--quick-pretrain", "--checkpoint", str(tmp_path / "d.pt"),
                           "--out", str(tmp_path / "out")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "out" / "compare_rewards.json").read_text())
    assert [r["reward"] for r in doc["runs"]] == ["pool", "sharpe"]
    assert all(r["evaluations"] > 0 and r["distinct"] <= r["evaluations"] for r in doc["runs"])
    table = (tmp_path / "out" / "compare_rewards.md").read_text()
    assert "| 0 | pool |" in table and "| 0 | sharpe |" in table
