"""The decoder policy: masking (property test), consistency of its distributions, stage-2 options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import (
    MASKED_LOGIT,
    DecoderActorCriticPolicy,
    MaskableDecoderActorCriticPolicy,
    masked_logits,
)
from alpha_env.errors import SettingsError
from alpha_env.grammar import Codebook
from encoders import AlphaDecoderConfig
from encoders.finetune import ScaledAdam, SlantedTriangular, constant_schedule, discriminative_scales

MAX_LEN = 12
DOC_DIM = 8
CODEBOOK = Codebook.default()
N = len(CODEBOOK)


pytestmark = pytest.mark.usefixtures("single_thread_torch")


def _obs_space(doc_dim: int = DOC_DIM) -> spaces.Dict:
    return spaces.Dict({
        "tokens": spaces.Box(0, N - 1, (MAX_LEN,), np.int64),
        "action_mask": spaces.MultiBinary(N),
        "document": spaces.Box(-1.0, 1.0, (doc_dim,), np.float32),
        "position": spaces.Box(0, MAX_LEN, (1,), np.int64),
        "stack_depth": spaces.Box(0, MAX_LEN, (1,), np.int64),
    })


def _config(doc_dim: int = DOC_DIM) -> dict:
    return AlphaDecoderConfig.from_codebook(CODEBOOK, max_len=16, d_model=16, num_layers=2, num_heads=2,
                                            ff_size=32, doc_dim=doc_dim).to_dict()


def _policy(cls=DecoderActorCriticPolicy, **kwargs):
    return cls(_obs_space(), spaces.Discrete(N), constant_schedule(1e-3), decoder_config=_config(), **kwargs)


POLICIES = {"ppo": _policy(), "maskable": _policy(MaskableDecoderActorCriticPolicy)}


def _batch(rng: np.random.Generator, batch: int, density: float, docs: bool) -> tuple[dict, np.ndarray]:
    tokens = np.zeros((batch, MAX_LEN), np.int64)
    for i in range(batch):
        k = int(rng.integers(0, MAX_LEN))
        tokens[i, :k] = rng.integers(3, N, k)
    mask = rng.random((batch, N)) < density
    mask[np.arange(batch), rng.integers(0, N, batch)] = True  # at least one allowed token per row
    document = rng.normal(size=(batch, DOC_DIM)).astype(np.float32) if docs else np.zeros((batch, DOC_DIM),
                                                                                            np.float32)
    obs = {"tokens": torch.as_tensor(tokens), "action_mask": torch.as_tensor(mask.astype(np.int8)),
           "document": torch.as_tensor(document), "position": torch.zeros(batch, 1),
           "stack_depth": torch.zeros(batch, 1)}
    return obs, mask


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 8), density=st.floats(0.0, 0.3),
       docs=st.booleans(), kind=st.sampled_from(sorted(POLICIES)), deterministic=st.booleans())
def test_policy_never_emits_a_masked_token(seed, batch, density, docs, kind, deterministic):
    policy = POLICIES[kind]
    obs, mask = _batch(np.random.default_rng(seed), batch, density, docs)
    torch.manual_seed(seed)
    with torch.no_grad():
        actions, values, log_prob = policy(obs, deterministic=deterministic)
        probs = policy.action_probabilities(obs).numpy()
    assert values.shape == (batch, 1) and log_prob.shape == (batch,)
    assert mask[np.arange(batch), actions.numpy()].all()
    assert (probs[~mask] == 0.0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(log_prob.numpy()).all()


def test_many_samples_stay_inside_a_single_allowed_token():
    policy = POLICIES["ppo"]
    obs, mask = _batch(np.random.default_rng(0), 4, 0.0, False)
    obs = {k: v.repeat(64, *([1] * (v.dim() - 1))) for k, v in obs.items()}
    with torch.no_grad():
        actions = policy(obs)[0].numpy()
    allowed = np.tile(np.flatnonzero(mask.any(axis=0)), 1)
    assert set(actions.tolist()) <= set(allowed.tolist())


def test_maskable_action_masks_are_combined_with_the_observation_mask():
    policy = POLICIES["maskable"]
    obs, mask = _batch(np.random.default_rng(1), 6, 0.2, False)
    extra = np.zeros_like(mask)
    extra[np.arange(6), mask.argmax(axis=1)] = True  # only the first allowed token of each row
    with torch.no_grad():
        for _ in range(5):
            actions = policy(obs, action_masks=extra)[0].numpy()
            assert (actions == mask.argmax(axis=1)).all()


def test_evaluate_actions_matches_the_rollout_log_probabilities():
    policy = POLICIES["ppo"]
    policy.set_training_mode(True)  # no dropout in RL: the decoder stays in eval mode
    obs, _ = _batch(np.random.default_rng(2), 8, 0.2, True)
    with torch.no_grad():
        actions, values, log_prob = policy(obs)
        values2, log_prob2, entropy = policy.evaluate_actions(obs, actions)
    torch.testing.assert_close(log_prob, log_prob2)
    torch.testing.assert_close(values, values2)
    assert (entropy >= 0).all()
    assert not policy.decoder.training


def test_masked_logits_keep_rows_without_any_allowed_token_finite():
    logits = torch.zeros(2, 4)
    mask = torch.tensor([[True, False, False, False], [False, False, False, False]])
    out = masked_logits(logits, mask)
    assert out[0, 1] == MASKED_LOGIT and out[0, 0] == 0
    assert torch.isfinite(torch.softmax(out[1], -1)).all()


def test_kl_penalty_to_the_initial_actor():
    with pytest.raises(SettingsError, match="ent_coef"):
        _policy(kl_coef=0.1, ent_coef=0.0)
    policy = _policy(kl_coef=0.5, ent_coef=0.01)
    obs, _ = _batch(np.random.default_rng(3), 8, 0.3, False)
    actions = policy(obs)[0]
    _, _, entropy = policy.evaluate_actions(obs, actions)
    assert policy.pop_update_stats()["kl_to_init"] == pytest.approx(0.0, abs=1e-6)  # π = π₀ at the start
    with torch.no_grad():
        for p in policy.decoder.head.parameters():
            p.add_(torch.randn_like(p))
    _, _, entropy_after = policy.evaluate_actions(obs, actions)
    stats = policy.pop_update_stats()
    assert stats["kl_to_init"] > 0.01
    plain = policy.get_distribution(obs).entropy()
    # the returned "entropy" carries -(kl_coef / ent_coef) * KL
    assert (entropy_after < plain - 1e-4).all()


def test_checkpoint_mismatch_with_the_action_space_is_a_clear_error():
    bad = AlphaDecoderConfig.from_codebook(CODEBOOK, max_len=8, d_model=16, num_layers=1, num_heads=2,
                                           ff_size=32, doc_dim=DOC_DIM).to_dict()
    with pytest.raises(SettingsError, match="decoder only 8"):
        DecoderActorCriticPolicy(_obs_space(), spaces.Discrete(N), constant_schedule(1e-3),
                                 decoder_config=bad)
    with pytest.raises(SettingsError, match="width 8"):
        DecoderActorCriticPolicy(_obs_space(doc_dim=5), spaces.Discrete(N), constant_schedule(1e-3),
                                 decoder_config=_config())


def test_discriminative_learning_rates_survive_sb3_learning_rate_updates():
    from stable_baselines3.common.utils import update_learning_rate

    policy = _policy(layer_lr_decay=0.5)
    groups = policy.optimizer.param_groups
    scales = [g["lr_scale"] for g in groups if g["name"].startswith("decoder_group")]
    assert scales == discriminative_scales(len(scales), 0.5) == [0.125, 0.25, 0.5, 1.0]
    update_learning_rate(policy.optimizer, 0.1)  # what SB3 does before each update
    bottom = groups[0]["params"][0]
    top = next(g for g in groups if g["name"] == "decoder_group_3")["params"][0]
    before_bottom, before_top = bottom.detach().clone(), top.detach().clone()
    bottom.grad = torch.ones_like(bottom)
    top.grad = torch.ones_like(top)
    for g in groups:
        for p in g["params"]:
            if p is not bottom and p is not top:
                p.grad = None
    policy.optimizer.step()
    # Adam's first step moves every weight by lr (sign of the gradient): the scale shows directly
    assert torch.allclose(before_bottom - bottom.detach(), torch.full_like(bottom, 0.1 * 0.125), atol=1e-5)
    assert torch.allclose(before_top - top.detach(), torch.full_like(top, 0.1 * 1.0), atol=1e-5)
    assert all(g["lr"] == 0.1 for g in groups)


def test_slanted_triangular_schedule():
    stlr = SlantedTriangular(1e-3, cut_frac=0.1, ratio=10.0)
    assert stlr(1.0) == pytest.approx(1e-4)  # start: peak / ratio
    assert stlr(0.9) == pytest.approx(1e-3)  # peak at cut_frac
    assert stlr(0.0) == pytest.approx(1e-4)  # end
    values = [stlr(1 - t) for t in np.linspace(0, 1, 101)]
    peak = int(np.argmax(values))
    assert all(np.diff(values[: peak + 1]) >= 0) and all(np.diff(values[peak:]) <= 1e-12)
    for bad in ({"peak": 0.0}, {"peak": 1e-3, "cut_frac": 1.0}, {"peak": 1e-3, "ratio": 0.5}):
        with pytest.raises(SettingsError):
            SlantedTriangular(**bad)


def test_scaled_adam_defaults_to_scale_one():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = ScaledAdam([p], lr=0.01)
    p.grad = torch.ones(3)
    opt.step()
    assert torch.allclose(p.detach(), torch.full((3,), -0.01), atol=1e-6)


def test_document_pathway_learns_at_the_full_rate():
    # stage 1 never trains the document projection (the corpus has no documents): discriminative rates
    # must not put it with the embeddings at layer_lr_decay ** (groups - 1)
    policy = _policy(layer_lr_decay=0.5)
    groups = {g["name"]: g for g in policy.optimizer.param_groups}
    document = groups["document_pathway"]
    assert document["lr_scale"] == 1.0
    expected = {id(p) for m in (policy.decoder.doc_projection, policy.decoder.doc_slot_norm)
                for p in m.parameters()}
    assert {id(p) for p in document["params"]} == expected
    bottom = {id(p) for p in groups["decoder_group_0"]["params"]}
    assert not bottom & expected
    # every parameter is in exactly one group
    ids = [id(p) for g in policy.optimizer.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(policy.parameters()))


# --------------------------------------------------------------------------- alpha encoder + fusion
@pytest.fixture(scope="module")
def alpha_checkpoint(tmp_path_factory) -> str:
    """A tiny AlphaEncoder (16 wide, 1 layer) saved as a checkpoint (random weights: the wiring is tested)."""
    from encoders import AlphaEncoder, AlphaEncoderConfig, save_checkpoint

    config = AlphaEncoderConfig.from_codebook(CODEBOOK, max_len=16, hidden_size=16, num_layers=1,
                                              num_heads=2, intermediate_size=32)
    path = tmp_path_factory.mktemp("alpha") / "alpha_encoder.pt"
    return str(save_checkpoint(AlphaEncoder(config, seed=0), path))


def _alpha_policy(checkpoint: str, fusion: str, cls=DecoderActorCriticPolicy, **kwargs):
    from agents.builders import policy_kwargs_for
    from agents.settings import EncoderSettings, FineTuneSettings

    encoder = EncoderSettings(alpha_encoder="stack", fusion=fusion, alpha_checkpoint=checkpoint)
    policy_kwargs = policy_kwargs_for(_config(), None, FineTuneSettings(), 0, encoder)
    policy_kwargs.update(kwargs)
    return cls(_obs_space(), spaces.Discrete(N), constant_schedule(1e-3), **policy_kwargs)


@pytest.mark.parametrize("fusion", ["concat", "cross_attention", "gated"])
def test_alpha_encoding_reaches_the_logits(alpha_checkpoint, fusion):
    policy = _alpha_policy(alpha_checkpoint, fusion)
    assert not any(p.requires_grad for p in policy.alpha_encoder.parameters())  # frozen
    captured = {}

    def keep(module, args, output):
        output.sequence = output.sequence.detach().requires_grad_(True)
        captured["sequence"], captured["mask"] = output.sequence, output.mask
        return output

    handle = policy.alpha_encoder.register_forward_hook(keep)
    obs, mask = _batch(np.random.default_rng(4), 5, 0.3, True)
    logits, _, _ = policy._logits_and_values(obs)
    handle.remove()
    logits.masked_select(torch.as_tensor(mask)).sum().backward()
    grad = captured["sequence"].grad
    real = captured["mask"]
    assert grad[real].abs().sum() > 0  # the alpha encoding changes the next-token logits
    assert grad[~real].abs().sum() == 0  # padding never does
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.fusion.parameters())
    groups = {g["name"]: g for g in policy.optimizer.param_groups}
    assert {id(p) for p in groups["fusion"]["params"]} == {id(p) for p in policy.fusion.parameters()}
    frozen = {id(p) for p in policy.alpha_encoder.parameters()}
    assert not frozen & {id(p) for g in policy.optimizer.param_groups for p in g["params"]}


def test_alpha_policy_masks_and_kl_reference(alpha_checkpoint):
    policy = _alpha_policy(alpha_checkpoint, "gated", MaskableDecoderActorCriticPolicy, kl_coef=0.5,
                           ent_coef=0.01)
    obs, mask = _batch(np.random.default_rng(5), 6, 0.2, False)  # no news: the fused memory still reads
    with torch.no_grad():
        actions, values, log_prob = policy(obs)
        probs = policy.action_probabilities(obs).numpy()
    assert mask[np.arange(6), actions.numpy()].all() and (probs[~mask] == 0).all()
    policy.evaluate_actions(obs, actions)
    assert policy.pop_update_stats()["kl_to_init"] == pytest.approx(0.0, abs=1e-6)
    assert not policy.alpha_encoder.training


def test_alpha_policy_bad_settings_are_clear(alpha_checkpoint, tmp_path):
    from agents.builders import policy_kwargs_for
    from agents.settings import EncoderSettings, FineTuneSettings

    with pytest.raises(SettingsError, match="fusion must be one of"):
        EncoderSettings(fusion="sum")
    with pytest.raises(SettingsError, match="needs --alpha-checkpoint"):
        policy_kwargs_for(_config(), None, FineTuneSettings(), 0, EncoderSettings(alpha_encoder="stack"))
    no_doc = AlphaDecoderConfig.from_codebook(CODEBOOK, max_len=16, d_model=16, num_layers=1, num_heads=2,
                                              ff_size=32, doc_dim=0).to_dict()
    kwargs = policy_kwargs_for(no_doc, None, FineTuneSettings(), 0,
                               EncoderSettings(alpha_encoder="stack", alpha_checkpoint=alpha_checkpoint))
    with pytest.raises(SettingsError, match="doc_dim > 0"):
        DecoderActorCriticPolicy(_obs_space(), spaces.Discrete(N), constant_schedule(1e-3), **kwargs)


def _vec_env():
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    import alpha_env.env as E

    kw = {"data": {"seed": 0, "n_stocks": 30, "n_days": 300}, "max_len": 8, "document_dim": DOC_DIM,
          "cache_bytes": 0}
    return DummyVecEnv([lambda: gym.make(E.ALPHA_STACK_ID, **kw)])


@pytest.mark.slow
@pytest.mark.parametrize("fusion", ["concat", "cross_attention", "gated"])
def test_short_ppo_run_with_each_fusion_and_reload(alpha_checkpoint, fusion, tmp_path):
    from agents.builders import build_agent, load_agent
    from agents.settings import EncoderSettings, FineTuneSettings

    encoder = EncoderSettings(alpha_encoder="stack", fusion=fusion, alpha_checkpoint=alpha_checkpoint)
    tune = FineTuneSettings(n_steps=32, batch_size=16, n_epochs=1, target_kl=None)
    model = build_agent("ppo", _vec_env(), decoder_config=_config(), init_checkpoint=None, settings=tune,
                        encoder=encoder)
    before = [p.detach().clone() for p in model.policy.fusion.parameters()]
    frozen = [p.detach().clone() for p in model.policy.alpha_encoder.parameters()]
    model.learn(total_timesteps=32)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.fusion.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(frozen, model.policy.alpha_encoder.parameters()))
    model.save(tmp_path / "model.zip")
    loaded = load_agent("ppo", tmp_path / "model.zip", encoder=EncoderSettings("stack", fusion))
    assert loaded.policy.fusion_kind == fusion and loaded.policy.alpha_checkpoint is None
    for a, b in zip(model.policy.alpha_encoder.parameters(), loaded.policy.alpha_encoder.parameters()):
        torch.testing.assert_close(a, b)  # the encoder's weights come from the saved model
    other = "gated" if fusion != "gated" else "concat"
    with pytest.raises(SettingsError, match=f"saved with alpha encoder stack, fusion {fusion}"):
        load_agent("ppo", tmp_path / "model.zip", encoder=EncoderSettings("stack", other))
    with pytest.raises(SettingsError, match="not alpha encoder none"):
        load_agent("ppo", tmp_path / "model.zip", encoder=EncoderSettings())
