"""``alpha-env generate``: news → valid sampled alphas, simulated and ranked; one-line error without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from alpha_env.cli import main
from alpha_env.grammar import Codebook, parse
from encoders import AlphaDecoder, AlphaDecoderConfig, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def decoder_checkpoint(tmp_path_factory) -> str:
    """A tiny untrained decoder reading 64-wide (hashed bag-of-words) documents."""
    config = AlphaDecoderConfig.from_codebook(Codebook.default(), max_len=12, d_model=16, num_layers=1,
                                              num_heads=2, ff_size=32, doc_dim=64)
    path = tmp_path_factory.mktemp("gen") / "alpha_decoder.pt"
    return str(save_checkpoint(AlphaDecoder(config, seed=0), path))


def _generate(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["generate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_samples_valid_alphas_ranked_by_train_sharpe(decoder_checkpoint, capsys, tmp_path):
    news = tmp_path / "news.txt"
    news.write_text("Profit rose sharply; the bank beat estimates.")
    code, out, err = _generate(capsys, "--news", str(news), "--checkpoint", decoder_checkpoint, "--n", "4",
                               "--doc-encoder", "hashed", "--max-len", "8", "--json")
    assert code == 0, err
    result = json.loads(out)
    rows = result["alphas"]
    assert 1 <= len(rows) <= 4 and result["drawn"] >= len(rows)
    assert len({r["expression"] for r in rows}) == len(rows)  # distinct
    for rank, row in enumerate(rows, 1):
        assert row["rank"] == rank
        parse(row["expression"])  # valid
        assert set(row) >= {"train", "valid"} and "test" not in row
    sharpe = [r["train"]["sharpe"] for r in rows if r["degenerate_reason"] is None]
    assert sharpe == sorted(sharpe, reverse=True)
    assert result["news"].startswith("Profit rose")


def test_generate_is_reproducible(decoder_checkpoint, capsys):
    def run(news: str) -> list[str]:
        code, out, err = _generate(capsys, "--news", news, "--checkpoint", decoder_checkpoint, "--n", "3",
                                   "--doc-encoder", "hashed", "--max-len", "8", "--seed", "1", "--json")
        assert code == 0, err
        return sorted(r["expression"] for r in json.loads(out)["alphas"])

    assert run("oil prices fell") == run("oil prices fell")


def test_generate_user_errors_are_one_line(decoder_checkpoint, capsys, tmp_path):
    code, _, err = _generate(capsys, "--news", "x", "--checkpoint", str(tmp_path / "none.pt"), "--json")
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    code, _, err = _generate(capsys, "--news", "x", "--checkpoint", decoder_checkpoint, "--n", "0", "--json")
    assert code == 2 and "--n must be >= 1" in err


def test_generate_without_torch_says_it_needs_the_rl_extra():
    script = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'transformers'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from alpha_env.cli import main\n"
        "sys.exit(main(['generate', '--news', 'profit rose', '--json']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    expected = "alpha-env generate: error: generate needs the rl extra: pip install 'alpha-env[rl]'"
    assert proc.stderr.strip() == expected


def test_generate_from_a_saved_agent_with_the_alpha_encoder(capsys, tmp_path):
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    import alpha_env.env as E
    from agents.builders import build_agent
    from agents.settings import EncoderSettings, FineTuneSettings
    from encoders import AlphaEncoder, AlphaEncoderConfig

    book = Codebook.default()
    alpha = save_checkpoint(AlphaEncoder(AlphaEncoderConfig.from_codebook(
        book, max_len=12, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32), seed=0),
        tmp_path / "alpha_encoder.pt")
    decoder = AlphaDecoderConfig.from_codebook(book, max_len=12, d_model=16, num_layers=1, num_heads=2,
                                               ff_size=32, doc_dim=64).to_dict()
    env = DummyVecEnv([lambda: gym.make(E.ALPHA_STACK_ID, data={"seed": 0, "n_stocks": 30, "n_days": 300},
                                        max_len=8, document_dim=64, cache_bytes=0)])
    model = build_agent("ppo", env, decoder_config=decoder, init_checkpoint=None,
                        settings=FineTuneSettings(n_steps=16, batch_size=16),
                        encoder=EncoderSettings("stack", "cross_attention", str(alpha)))
    model.save(tmp_path / "model.zip")
    code, out, err = _generate(capsys, "--news", "profit rose", "--checkpoint", str(tmp_path / "model.zip"),
                               "--n", "3", "--doc-encoder", "hashed", "--json")
    assert code == 0, err
    rows = json.loads(out)["alphas"]
    assert rows and all(parse(r["expression"]) for r in rows)
