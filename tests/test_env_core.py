"""AlphaStackEnv: API conformance, masks, invalid actions, rewards (== ACE, train days only), seeding."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numba
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from panel_support import scramble_after

import alpha_env.env as E
from alpha_env.ace import ACE, AlphaStore
from alpha_env.data import MarketPanel, synthetic_market
from alpha_env.errors import SettingsError
from alpha_env.grammar import canonical, parse

SMALL = {"seed": 0, "n_stocks": 30, "n_days": 300}


@pytest.fixture(scope="module", autouse=True)
def _serial_numba():
    """Small panels: Numba's thread pool costs more than it saves on a shared 2-core machine."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture(scope="module")
def panel() -> MarketPanel:
    return synthetic_market(**SMALL)


@pytest.fixture()
def env(panel):
    e = E.AlphaStackEnv(panel, max_len=12)
    yield e
    e.close()


def actions_of(env: E.AlphaStackEnv, text: str) -> list[int]:
    """Action ids that write ``text`` then END."""
    return [*env.codebook.encode(parse(text)), env.codebook.END]


def run_actions(env, actions, seed=0):
    obs, info = env.reset(seed=seed)
    out = [(obs, 0.0, False, False, info)]
    for a in actions:
        out.append(env.step(a))
        if out[-1][2] or out[-1][3]:
            break
    return out


# ---------------------------------------------------------------- registration and API conformance
@pytest.mark.parametrize("env_id", E.ENV_IDS)
def test_check_env_on_every_registered_id(env_id):
    env = gym.make(env_id, data=SMALL, max_len=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [str(w.message) for w in caught if "WARN" in str(w.message)]
    assert messages == []
    env.close()


def test_registered_ids_are_versioned_and_default_id_needs_no_argument():
    assert set(E.ENV_IDS) <= set(gym.registry)
    assert all(i.startswith("AlphaEnv/") and i.rsplit("-v", 1)[1].isdigit() for i in E.ENV_IDS)
    spec = gym.spec(E.ALPHA_STACK_ID)
    assert spec.entry_point == "alpha_env.env.registration:make_alpha_stack"
    E.register_envs()  # idempotent: no error, no duplicate


def test_make_with_panel_path_and_mapping(panel, tmp_path):
    env = gym.make(E.ALPHA_STACK_ID, data=panel, max_len=8)
    assert env.unwrapped.panel is panel
    with pytest.raises(SettingsError, match="data must be"):
        gym.make(E.ALPHA_STACK_ID, data=3.5)
    with pytest.raises(SettingsError, match="only apply to a dataset path"):
        gym.make(E.ALPHA_STACK_ID, data=SMALL, load_options={"sectors": "x.csv"})


def test_spaces_and_initial_observation(env):
    n = len(env.codebook)
    assert env.action_space == gym.spaces.Discrete(n)
    obs, info = env.reset(seed=1)
    assert obs in env.observation_space
    assert obs["tokens"].shape == (12,) and not obs["tokens"].any()
    assert obs["position"][0] == 0 and obs["stack_depth"][0] == 0
    assert obs["document"].shape == (E.DEFAULT_DOCUMENT_DIM,) and not obs["document"].any()
    mask = env.action_masks()
    assert mask.dtype == bool and mask.shape == (n,)
    np.testing.assert_array_equal(mask, obs["action_mask"].astype(bool))
    np.testing.assert_array_equal(mask, info["action_mask"])
    assert not mask[env.codebook.PAD] and not mask[env.codebook.BOS] and not mask[env.codebook.END]
    # mask = grammar AND vocabulary: never a token outside the vocabulary
    assert not (mask & ~env.vocabulary).any()
    # 'cap' is in the codebook but not in the synthetic panel: never offered
    assert not env.vocabulary[env.codebook.id("cap")]
    assert not any(env.vocabulary[env.codebook.id(f"{d}d")] for d in (200, 250))  # > train length


def test_mask_matches_real_transitions(env):
    """Every allowed id can be pushed; every forbidden one ends the episode as invalid (no exception)."""
    agent = E.MaskedRandomAgent(3)
    obs, _ = env.reset(seed=0)
    for _ in range(4):
        mask = env.action_masks()
        for a in np.flatnonzero(~mask)[:: 17]:
            probe = E.AlphaStackEnv(env.panel, max_len=12)
            probe.reset(seed=0)
            for t in obs["tokens"][: obs["position"][0]]:
                probe.step(int(t))
            _, r, term, trunc, info = probe.step(int(a))
            assert term and not trunc and info["reason"] == "invalid_action" and r == -2.0
        a = agent.act(mask)
        if a == env.codebook.END:
            break
        obs, r, term, trunc, info = env.step(a)
        assert r == 0.0 and not term and not trunc


def test_invalid_actions_end_with_penalty_never_raise(panel):
    env = E.AlphaStackEnv(panel, max_len=8, invalid_action_penalty=-3.5)
    for bad in (env.codebook.PAD, env.codebook.END, env.codebook.id("rank"), -1, len(env.codebook), 10**9):
        env.reset(seed=0)
        obs, r, term, trunc, info = env.step(bad)
        assert (r, term, trunc, info["reason"]) == (-3.5, True, False, "invalid_action")
        assert info["why"] and obs in env.observation_space
    env.reset(seed=0)
    _, r, term, _, info = env.step(env.codebook.id("0.728317"))  # in the codebook, not in the vocabulary
    assert term and "vocabulary" in info["why"]
    with pytest.raises(ResetNeeded):
        env.step(env.codebook.id("close"))


def test_end_reward_equals_ace_simulate_on_train(panel, env):
    ace = ACE(panel, rank_ic=False)  # the env computes the (rank) IC only when it is the reward
    for text in ("rank(-delta(close, 5))", "ts_rank(volume, 10)", "-correlation(open, volume, 10)"):
        steps = run_actions(env, actions_of(env, text))
        _, reward, term, trunc, info = steps[-1]
        assert all(s[1] == 0.0 for s in steps[1:-1])
        assert term and not trunc and info["reason"] == "complete"
        result = ace.simulate(text)
        assert info["expression"] == canonical(parse(text)) == result.expression
        assert info["alpha_id"] == result.alpha_id
        assert reward == pytest.approx(result.metrics["train"]["sharpe"], abs=1e-12)
        assert "ic" not in info["metrics"]
        expected = {k: v for k, v in result.metrics["train"].items() if k != "ic"}
        assert info["metrics"] == pytest.approx(expected)
        assert info["raw_reward"] == reward


def test_ic_reward(panel):
    env = E.AlphaStackEnv(panel, max_len=8, reward="ic")
    _, reward, _, _, info = run_actions(env, actions_of(env, "rank(-delta(close, 5))"))[-1]
    assert reward == pytest.approx(ACE(panel).simulate("rank(-delta(close, 5))").metrics["train"]["ic"])
    assert info["metrics"]["ic"] == reward and "rank_ic" not in info["metrics"]
    with pytest.raises(SettingsError, match="unknown reward"):
        E.AlphaStackEnv(panel, reward="sortino")


def test_degenerate_alpha_gets_penalty_and_reason(panel):
    env = E.AlphaStackEnv(panel, max_len=8, degenerate_penalty=-0.75)
    # constant across stocks after market neutralization (prices are positive: always 1)
    _, reward, term, _, info = run_actions(env, actions_of(env, "close > -1"))[-1]
    assert term and reward == -0.75 and info["reason"] == "degenerate"
    assert "constant" in info["degenerate_reason"]


def test_calls_degenerate_whatever_the_data_are_masked_unless_switched_off(panel):
    """group_mean over the market is one number a day: refused by the masks by default (an invalid action
    with its reason), an ordinary degenerate alpha with refuse_degenerate=False (round 1's masks)."""
    env = E.AlphaStackEnv(panel, max_len=8, degenerate_penalty=-0.75)
    assert env.config.refuse_degenerate
    plain = E.AlphaStackEnv(panel, max_len=8, degenerate_penalty=-0.75, refuse_degenerate=False)
    actions = actions_of(plain, "group_mean(close, market)")
    env.reset(seed=0)
    for a in actions[:-2]:
        env.step(a)
    assert not env.action_masks()[actions[-2]]
    _, reward, term, _, info = env.step(actions[-2])
    assert term and reward == env.config.invalid_action_penalty and info["reason"] == "invalid_action"
    _, reward, term, _, info = run_actions(plain, actions)[-1]
    assert term and reward == -0.75 and "constant" in info["degenerate_reason"]
    with pytest.raises(SettingsError, match="refuse_degenerate must be true or false"):
        E.AlphaStackEnv(panel, refuse_degenerate="yes")


def test_reward_reads_train_days_only(panel):
    """Scrambling every price after the train split leaves every reward unchanged."""
    other = scramble_after(panel, panel.splits["train"].stop, seed=5)
    env_a, env_b = E.AlphaStackEnv(panel, max_len=10), E.AlphaStackEnv(other, max_len=10)
    np.testing.assert_array_equal(env_a.vocabulary, env_b.vocabulary)
    agent = E.MaskedRandomAgent(11)
    compared = 0
    for ep in range(60):
        ra, _, info_a = E.play_episode(env_a, agent, seed=ep)
        rb = run_actions(env_b, [*env_a.written, env_a.codebook.END])[-1][1]
        assert ra == rb, info_a["expression"]
        compared += info_a["reason"] == "complete"
    assert compared >= 5


def test_correlation_penalty_against_found_alphas(panel):
    env = E.AlphaStackEnv(panel, max_len=8, correlation_penalty=0.5)
    acts = actions_of(env, "rank(-delta(close, 5))")
    _, r1, _, _, info1 = run_actions(env, acts)[-1]
    assert info1["max_correlation"] == 0.0 and r1 == info1["raw_reward"]
    _, r2, _, _, info2 = run_actions(env, acts)[-1]  # the same alpha again: correlation 1
    assert info2["max_correlation"] == pytest.approx(1.0)
    assert r2 == pytest.approx(info2["raw_reward"] - 0.5)
    _, r3, _, _, info3 = run_actions(env, actions_of(env, "rank(delta(close, 5))"))[-1]  # mirror: |corr| 1
    assert info3["max_correlation"] == pytest.approx(1.0) and r3 == pytest.approx(info3["raw_reward"] - 0.5)
    assert len(env.found) == 2


def test_correlation_penalty_is_over_the_train_window_between_different_alphas(panel):
    """Penalty = coefficient · max |corr| of the train-split PnL, checked against ``np.corrcoef``."""
    ace = ACE(panel, rank_ic=False)
    train = panel.splits["train"]
    texts = ("rank(-delta(close, 5))", "ts_rank(volume, 10)", "-correlation(open, volume, 10)")
    pnl = {t: ace.simulate(t, save=False).pnl for t in texts}
    env = E.AlphaStackEnv(panel, max_len=12, correlation_penalty=0.7)
    seen: list[str] = []
    for text in texts:
        _, reward, _, _, info = run_actions(env, actions_of(env, text))[-1]
        assert info["reason"] == "complete", text
        corrs = [abs(np.corrcoef(pnl[text][train], pnl[s][train])[0, 1]) for s in seen]
        expected = max(corrs, default=0.0)
        assert info["max_correlation"] == pytest.approx(expected, abs=1e-12), text
        assert reward == pytest.approx(info["raw_reward"] - 0.7 * expected, abs=1e-12)
        if seen:
            assert info["most_correlated"] == ace.alpha_id(seen[int(np.argmax(corrs))])
            # the whole-period correlation is a different number: the window matters in this test
            whole = max(abs(np.corrcoef(pnl[text], pnl[s])[0, 1]) for s in seen)
            assert abs(whole - expected) > 1e-3
        seen.append(text)
    assert 0.0 < info["max_correlation"] < 0.99


def test_correlation_penalty_reads_train_days_only(panel):
    """With a correlation penalty, scrambling every price after the train split leaves rewards unchanged."""
    other = scramble_after(panel, panel.splits["train"].stop, seed=5)
    env_a = E.AlphaStackEnv(panel, max_len=10, correlation_penalty=0.5)
    env_b = E.AlphaStackEnv(other, max_len=10, correlation_penalty=0.5)
    agent = E.MaskedRandomAgent(3)
    penalized = 0
    for ep in range(40):
        ra, _, info_a = E.play_episode(env_a, agent, seed=ep)
        _, rb, _, _, info_b = run_actions(env_b, [*env_a.written, env_a.codebook.END])[-1]
        assert ra == rb, info_a["expression"]
        assert info_a.get("max_correlation") == info_b.get("max_correlation")
        penalized += info_a.get("max_correlation", 0.0) > 0.05
    assert len(env_a.found) >= 5 and penalized >= 3


def test_found_alphas_drop_the_least_recently_added():
    """Eviction rule: over ``capacity``, the alpha added (or re-added) longest ago is dropped."""
    rng = np.random.default_rng(0)
    series = {k: rng.normal(size=50) for k in "abcde"}
    found = E.FoundAlphas(capacity=3)
    for k in "abc":
        found.add(k, series[k])
    found.add("d", series["d"])
    assert [k in found for k in "abcd"] == [False, True, True, True] and len(found) == 3
    found.add("b", series["b"])  # re-adding moves b to the newest place: c is now the oldest
    found.add("e", series["e"])
    assert [k in found for k in "bcde"] == [True, False, True, True]
    # a dropped alpha no longer counts: its own PnL correlates 1 only with itself
    assert found.max_correlation(series["c"], slice(None))[0] < 0.99
    assert found.max_correlation(series["e"], slice(None)) == (pytest.approx(1.0), "e")
    found.add("e", series["e"] * 2.0)  # same id again: replaced, not duplicated
    assert len(found) == 3
    with pytest.raises(SettingsError, match="capacity"):
        E.FoundAlphas(capacity=0)


def test_found_alphas_window_and_copy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=80), rng.normal(size=80)
    b[:40] = a[:40] + 0.1 * b[:40]  # correlated on the first 40 days only
    found = E.FoundAlphas(capacity=2)
    kept = a.copy()
    found.add("a", a)
    a[:] = 0.0  # the memory keeps its own copy
    w = slice(0, 40)
    corr, aid = found.max_correlation(b, w)
    assert aid == "a" and corr == pytest.approx(abs(np.corrcoef(kept[w], b[w])[0, 1]), abs=1e-12)
    assert corr > 0.9 > found.max_correlation(b, slice(40, 80))[0]


def test_env_found_capacity_evicts_oldest(panel):
    env = E.AlphaStackEnv(panel, max_len=12, correlation_penalty=0.5, found_capacity=1)
    first, second = "rank(-delta(close, 5))", "ts_rank(volume, 10)"
    _, _, _, _, i1 = run_actions(env, actions_of(env, first))[-1]
    _, _, _, _, i2 = run_actions(env, actions_of(env, second))[-1]
    assert len(env.found) == 1 and i2["alpha_id"] in env.found and i1["alpha_id"] not in env.found
    _, _, _, _, again = run_actions(env, actions_of(env, first))[-1]  # compared with the second only
    assert again["most_correlated"] == i2["alpha_id"] and again["max_correlation"] < 0.99


@pytest.mark.filterwarnings("ignore:An input array is constant")  # days of one sign: no IC, both sides
def test_rank_ic_reward_matches_pandas_spearman_with_ties(panel):
    """The ``rank_ic`` reward is the mean over train days of pandas' Spearman IC (average ranks), on a
    signal with heavy ties (``sign``) and NaN days (the first days of ``delta``)."""
    import pandas as pd

    from alpha_env.ace import SimulationSettings
    from alpha_env.ace.simulate import simulation_universe

    text = "sign(delta(close, 5))"
    env = E.AlphaStackEnv(panel, max_len=8, reward="rank_ic")
    _, reward, _, _, info = run_actions(env, actions_of(env, text))[-1]
    assert info["reason"] == "complete"
    signal = ACE(panel).evaluator.evaluate(parse(text))
    assert np.isnan(signal[:5]).all() and len(np.unique(signal[np.isfinite(signal)])) <= 3
    universe = simulation_universe(panel, SimulationSettings())
    returns = panel.field("returns")
    lag = SimulationSettings().delay + 1
    daily = []
    for d in range(*panel.splits["train"].indices(panel.n_dates)[:2]):
        if d < lag:
            continue
        x, y = signal[d - lag], returns[d]
        keep = universe[d - lag] & np.isfinite(x) & np.isfinite(y)
        if keep.sum() >= 3:
            daily.append(pd.Series(x[keep]).corr(pd.Series(y[keep]), method="spearman"))
    daily = np.asarray(daily)
    assert reward == pytest.approx(daily[np.isfinite(daily)].mean(), abs=1e-12)


def test_found_alphas_go_to_the_store(panel, tmp_path):
    db = tmp_path / "alphas.db"
    env = E.AlphaStackEnv(panel, max_len=8, store=str(db))
    _, _, _, _, good = run_actions(env, actions_of(env, "rank(-delta(close, 5))"))[-1]
    _, _, _, _, bad = run_actions(env, actions_of(env, "group_mean(close, market)"))[-1]
    env.close()
    env.close()  # twice is fine
    with AlphaStore(db) as store:
        assert good["alpha_id"] in store
        assert bad["alpha_id"] not in store  # degenerate: not a found alpha
        assert store.get(good["alpha_id"]).metrics["train"]["sharpe"] == pytest.approx(
            good["metrics"]["sharpe"])


def test_seeded_determinism_across_two_envs(panel):
    a, b = E.AlphaStackEnv(panel, max_len=10), E.AlphaStackEnv(panel, max_len=10)
    for seed in range(8):
        agent = E.MaskedRandomAgent(seed)
        ra, na, ia = E.play_episode(a, agent, seed=seed)
        steps_b = run_actions(b, [*a.written, a.codebook.END], seed=seed)
        assert steps_b[-1][1] == ra and steps_b[-1][4].get("expression") == ia.get("expression")
        obs_a, _ = a.reset(seed=seed)
        obs_b, _ = b.reset(seed=seed)
        for k in obs_a:
            np.testing.assert_array_equal(obs_a[k], obs_b[k])


def test_settings_errors_are_specific(panel):
    with pytest.raises(SettingsError, match="max_len"):
        E.AlphaStackEnv(panel, max_len=0)
    with pytest.raises(SettingsError, match="render_mode"):
        E.AlphaStackEnv(panel, render_mode="rgb_array")
    with pytest.raises(SettingsError, match="no field"):
        E.AlphaStackEnv(panel, vocabulary=["rank", "5d"])
    with pytest.raises(SettingsError, match="vocabulary"):
        E.AlphaStackEnv(panel, vocabulary=["close", "no_such_token"])
    with pytest.raises(SettingsError, match="correlation_penalty"):
        E.AlphaStackEnv(panel, correlation_penalty=-1)
    with pytest.raises(SettingsError, match="unknown reset option"):
        E.AlphaStackEnv(panel).reset(options={"decision_date": None, "foo": 1})


def test_custom_vocabulary_keeps_masks_exact(panel):
    """A small vocabulary (one binary operator, no windows) still never dead-ends."""
    env = E.AlphaStackEnv(panel, max_len=6, vocabulary=["close", "volume", "rank", "sub", "<end>"])
    agent = E.MaskedRandomAgent(0)
    for ep in range(200):
        _, steps, info = E.play_episode(env, agent, seed=ep)
        assert info["reason"] in ("complete", "degenerate") and steps <= 7
        assert set(info["expression"].replace("(", " ").replace(")", " ").replace(",", " ").split()) <= {
            "close", "volume", "rank", "-"}


def test_render_modes(panel):
    env = E.AlphaStackEnv(panel, max_len=8, render_mode="ansi")
    run_actions(env, actions_of(env, "rank(close)"))
    text = env.render()
    assert text.startswith("close rank") and "rank(close)" in text


def test_qualified_ids_work_in_a_fresh_process_and_the_float_mask(tmp_path):
    """A process that never imported alpha_env.env can make the env from the module-qualified id (what
    remote workers do); mask_dtype="float32" gives a float Box mask equal to the bool mask."""
    import subprocess
    import sys

    code = ("import gymnasium as gym, numpy as np\n"
            "env = gym.make('alpha_env.env:AlphaEnv/AlphaStack-v0', data={'seed': 0, 'n_stocks': 20, "
            "'n_days': 200}, max_len=8, mask_dtype='float32')\n"
            "obs, info = env.reset(seed=0)\n"
            "assert obs['action_mask'].dtype == np.float32 and env.observation_space.contains(obs)\n"
            "assert (obs['action_mask'] == info['action_mask']).all()\n"
            "print('QUALIFIED-OK')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0 and "QUALIFIED-OK" in proc.stdout, proc.stderr[-2000:]


def test_step_with_non_finite_or_huge_actions_never_raises():
    import gymnasium as gym

    import alpha_env.env  # noqa: F401

    env = gym.make("AlphaEnv/AlphaStack-v0", data={"seed": 0, "n_stocks": 20, "n_days": 200}, max_len=8)
    for bad in (float("inf"), float("-inf"), float("nan"), 10**30, -1, "x"):
        env.reset(seed=0)
        _, reward, terminated, truncated, info = env.step(bad)
        assert terminated and not truncated and info["reason"] == "invalid_action"
        assert reward == env.unwrapped.invalid_action_penalty


def test_env_options_are_declared_once_in_env_settings():
    from alpha_env.env import AlphaStackEnv, EnvSettings
    from alpha_env.errors import SettingsError

    panel = __import__("alpha_env.data", fromlist=["synthetic_market"]).synthetic_market(
        seed=0, n_stocks=20, n_days=200)
    env = AlphaStackEnv(panel, env_settings=EnvSettings(reward="ic"), max_len=9)
    assert env.config == EnvSettings(reward="ic", max_len=9) and env.max_len == 9
    with pytest.raises(SettingsError, match="unknown environment option"):
        AlphaStackEnv(panel, max_lenght=9)
    with pytest.raises(SettingsError, match="correlation_penalty"):
        EnvSettings(correlation_penalty=-1)
