"""RLlib (new API stack) on the env: the module-qualified id in a remote EnvRunner, action masking in an
RLModule through the float mask, one short PPO iteration."""

from __future__ import annotations

import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.rllib")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.ray

from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.core.rl_module.apis import ValueFunctionAPI  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModuleSpec  # noqa: E402
from ray.rllib.core.rl_module.torch import TorchRLModule  # noqa: E402

ENV_ID = "alpha_env.env:AlphaEnv/AlphaStack-v0"  # imports alpha_env.env in the remote worker first
ENV_CONFIG = {"data": {"seed": 0, "n_stocks": 20, "n_days": 200, "news": False}, "mask_dtype": "float32",
              "max_len": 10}


class MaskedTokenModule(TorchRLModule, ValueFunctionAPI):
    """A small MLP over (tokens, position, stack depth, mask); logits of forbidden tokens pushed to the
    float minimum by adding ``log(mask)`` (the float32 mask makes ``log`` well defined: 0 → -inf)."""

    def setup(self) -> None:
        spaces = self.observation_space.spaces
        self.n_actions = int(self.action_space.n)
        self.scale = float(spaces["tokens"].shape[0])
        width = spaces["tokens"].shape[0] + 2 + self.n_actions
        hidden = int(self.model_config.get("hidden", 32)) if self.model_config else 32
        self.body = torch.nn.Sequential(torch.nn.Linear(width, hidden), torch.nn.Tanh())
        self.pi = torch.nn.Linear(hidden, self.n_actions)
        self.vf = torch.nn.Linear(hidden, 1)

    def _hidden(self, obs: dict) -> torch.Tensor:
        x = torch.cat([obs["tokens"].float() / self.n_actions, obs["position"].float() / self.scale,
                       obs["stack_depth"].float() / self.scale, obs["action_mask"].float()], dim=-1)
        return self.body(x)

    def _forward(self, batch: dict, **kwargs) -> dict:
        obs = batch[Columns.OBS]
        mask = obs["action_mask"].float()
        logits = self.pi(self._hidden(obs)) + torch.clamp(torch.log(mask), min=torch.finfo(torch.float32).min)
        return {Columns.ACTION_DIST_INPUTS: logits}

    def compute_values(self, batch: dict, embeddings=None) -> torch.Tensor:
        return self.vf(self._hidden(batch[Columns.OBS])).squeeze(-1)


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # the test module is not importable in the workers: ship this module's classes by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


def _config(env_id: str) -> PPOConfig:
    """One short PPO iteration: one remote EnvRunner, 64 env steps, minibatches of 32."""
    return (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .environment(env_id, env_config=ENV_CONFIG)
        .env_runners(num_env_runners=1, num_envs_per_env_runner=1, rollout_fragment_length=64,
                     num_cpus_per_env_runner=1)
        .learners(num_learners=0)
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1, lr=1e-3)
        .rl_module(rl_module_spec=RLModuleSpec(module_class=MaskedTokenModule, model_config={"hidden": 32}))
        .debugging(seed=0)
    )


def test_rllib_ppo_with_masking_rl_module_in_a_remote_env_runner(ray_local):
    algo = _config(ENV_ID).build_algo()
    try:
        result = algo.train()
        runners = result["env_runners"]
        assert runners["num_env_steps_sampled_lifetime"] >= 64
        assert runners["num_episodes_lifetime"] >= 1  # finished episodes were rewarded
        assert np.isfinite(runners["episode_return_mean"])
        assert result["learners"]["default_policy"]["num_module_steps_trained"] > 0
        # the masked module only ever picks allowed tokens: no episode ended on an invalid action
        module = algo.get_module()
        import gymnasium as gym

        env = gym.make(ENV_ID, **ENV_CONFIG)
        obs, _ = env.reset(seed=1)
        batch = {Columns.OBS: {k: torch.as_tensor(np.asarray(v))[None] for k, v in obs.items()}}
        logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS][0]
        forbidden = obs["action_mask"] == 0
        assert forbidden.any() and bool((logits[forbidden] < -1e30).all())
    finally:
        algo.stop()


def test_plain_id_in_remote_env_runners_through_ray_tune_registry(ray_local):
    """The plain Gymnasium id is unknown in a fresh worker (NamespaceNotFound: nothing imported
    alpha_env.env there); registered with Ray's registry in the driver, it resolves in every worker."""
    from ray.tune.registry import register_env

    from alpha_env.env.registration import ALPHA_STACK_ID, make_alpha_stack

    register_env(ALPHA_STACK_ID, lambda config: make_alpha_stack(**config))
    algo = _config(ALPHA_STACK_ID).build_algo()
    try:
        assert algo.train()["env_runners"]["num_env_steps_sampled_lifetime"] >= 64
    finally:
        algo.stop()
