"""End-to-end stage 2: the document encoder's top layers learn from the hindsight loss and from PPO."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from encoders_support import save_tiny_bert

import alpha_env.env as E
from alpha_env.data import synthetic_market
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook
from encoders import AlphaDecoder, AlphaDecoderConfig, save_checkpoint
from encoders.doc_finetune import (
    DocFinetuneSettings,
    DocumentKeyObservation,
    TextWindows,
    TrainableTextEncoder,
    with_document_key,
)

CODEBOOK = Codebook.default()
DOC_DAYS = 3

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(seed=0, n_stocks=10, n_days=200)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny")


def _settings(folder, **overrides) -> DocFinetuneSettings:
    return DocFinetuneSettings(doc_model=str(folder), **{"top_layers": 1, "unfreeze_every": 1, **overrides})


def _table(panel, dim=32):
    return E.embed_document_store(panel.documents, dim)


def test_windows_hold_the_texts_the_environment_averages(panel):
    table = _table(panel)
    windows = TextWindows(panel.documents, panel.dates, DOC_DAYS, max_texts=1000)
    for i in (DOC_DAYS, 50, 120, 199):
        _, count = table.window_mean(panel.dates[i - DOC_DAYS], panel.dates[i])
        assert len(windows.texts(i)) == count
    assert len(TextWindows(panel.documents, panel.dates, DOC_DAYS, max_texts=2).texts(120)) <= 2
    with pytest.raises(SettingsError, match="outside the panel"):
        windows.texts(500)


def test_document_key_is_the_decision_index(panel):
    env = DocumentKeyObservation(E.AlphaStackEnv(panel, document_embeddings=_table(panel), max_len=8,
                                                 doc_days=DOC_DAYS))
    obs, info = env.reset(seed=0)
    assert str(panel.dates[int(obs["document_key"][0])]) == info["decision_date"]
    assert env.observation_space.contains(obs)
    with pytest.raises(SettingsError, match="Dict observation"):
        DocumentKeyObservation(gym.make("CartPole-v1"))


def test_settings_are_checked():
    with pytest.raises(SettingsError, match="top_layers"):
        DocFinetuneSettings(top_layers=0)
    with pytest.raises(SettingsError, match="layer_lr_decay"):
        DocFinetuneSettings(layer_lr_decay=1.5)


def test_gradual_unfreezing_never_reaches_the_bottom(panel, folder):
    settings = _settings(folder, top_layers=2, unfreeze_every=2)
    encoder = TrainableTextEncoder.for_panel(settings, panel, DOC_DAYS)
    trainable = lambda: [any(p.requires_grad for p in g) for g in encoder.groups]  # noqa: E731
    assert trainable() == [False, False, True]  # embeddings, layer 0, layer 1: the top one first
    encoder.after_update()
    assert trainable() == [False, False, True]
    encoder.after_update()
    assert trainable() == [False, True, True]
    for _ in range(5):
        encoder.after_update()
    assert trainable() == [False, True, True]  # at most top_layers
    scales = [g["lr_scale"] for g in encoder.param_groups()]
    assert scales == pytest.approx([0.1 / 2.6, 0.1])
    vectors = encoder(torch.tensor([[50], [50], [120]]))
    assert vectors.shape == (3, 32) and torch.equal(vectors[0], vectors[1])


def _snapshot(encoder):
    return [[p.detach().clone() for p in g] for g in encoder.groups]


def _changed(before, encoder):
    return [any(not torch.equal(a, b) for a, b in zip(old, g)) for old, g in zip(before, encoder.groups)]


def test_ppo_gradient_reaches_only_the_top_layers(panel, folder, tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.builders import build_agent
    from agents.settings import FineTuneSettings

    decoder = AlphaDecoder(AlphaDecoderConfig.from_codebook(CODEBOOK, max_len=12, d_model=16, num_layers=1,
                                                            num_heads=2, ff_size=32, doc_dim=32), seed=0)
    checkpoint = save_checkpoint(decoder, tmp_path / "decoder.pt")
    table = _table(panel)
    env_fn = with_document_key(lambda: E.AlphaStackEnv(panel, document_embeddings=table, max_len=8,
                                                       doc_days=DOC_DAYS, cache_bytes=0))
    model = build_agent("ppo", DummyVecEnv([env_fn]), decoder_config=decoder.config.to_dict(),
                        init_checkpoint=checkpoint,
                        settings=FineTuneSettings(n_steps=32, batch_size=16, n_epochs=1, target_kl=None))
    encoder = TrainableTextEncoder.for_panel(_settings(folder), panel, DOC_DAYS)
    model.policy.attach_text_encoder(encoder)
    before = _snapshot(encoder)
    model.learn(total_timesteps=32)
    assert encoder.updates > 0
    assert _changed(before, encoder) == [False, False, True]  # only the top layer moved
    with pytest.raises(SettingsError, match="wide"):
        model.policy.attach_text_encoder(type("W", (torch.nn.Module,), {"hidden_size": 7})())


def test_hindsight_gradient_reaches_only_the_top_layers(panel, folder):
    from agents.hindsight import HindsightSettings, HindsightTargets, hindsight_finetune

    decoder = AlphaDecoder(AlphaDecoderConfig.from_codebook(CODEBOOK, max_len=12, d_model=16, num_layers=1,
                                                            num_heads=2, ff_size=32, doc_dim=32), seed=0)
    decisions = np.arange(20, 40)
    targets = HindsightTargets(expressions=["rank(delta(close, 5))", "-1 * rank(delta(close, 5))"],
                               decisions=decisions, docs=np.zeros((20, 32), np.float32),
                               payoffs=np.zeros((2, 20)), estimated=np.zeros((2, 20)),
                               targets=np.tile([[0], [1]], (10, 1)))
    encoder = TrainableTextEncoder.for_panel(_settings(folder), panel, DOC_DAYS)
    before = _snapshot(encoder)
    hindsight_finetune(decoder, CODEBOOK, targets, HindsightSettings.quick(epochs=1, batch_size=8),
                       text_encoder=encoder)
    assert _changed(before, encoder) == [False, False, True]


def test_job_option_is_declared_once_and_checked(panel, folder, tmp_path):
    from agents.job import PPOJobSettings, _doc_finetune_encoder
    from alpha_env.options import parse_args

    args = parse_args(PPOJobSettings, ["--finetune-doc-encoder", "--doc-finetune-top-layers", "1",
                                       "--doc-finetune-doc-model", str(folder)])
    assert args.doc_finetune == DocFinetuneSettings(doc_model=str(folder), top_layers=1)
    with pytest.raises(SettingsError, match="needs --doc-mode"):
        _doc_finetune_encoder(args, panel, None)
    args.doc_mode = True
    with pytest.raises(SettingsError, match="cannot --resume"):
        _doc_finetune_encoder(args, panel, tmp_path / "model.zip")
    assert isinstance(_doc_finetune_encoder(args, panel, None), TrainableTextEncoder)
    assert _doc_finetune_encoder(PPOJobSettings(), panel, None) is None
