"""Analytic policy gradient: the gradient of the return through a differentiable
rollout of the env itself.

The loss of one window is minus the mean reward of `horizon_length` steps of
`policy -> env.step` from the carried env state (a `lax.scan`),

    L(theta) = -1 / (H B) sum_{t < H} sum_b r_t^b(theta),

and `jax.grad` differentiates it through the policy and the env's dynamics.
The env state carries over from one window to the next with its gradient
stopped at the window's start, so the gradient is truncated to the window
(backpropagation through time over H steps). The gradient is clipped by its
global norm and Adam takes the step (Xu et al. 2022, "Accelerated Policy
Learning with Parallel Differentiable Simulation", sec. 3, without the critic;
Freeman et al. 2021, "Brax", sec. 5).

With auto-reset, each member's episode counter starts at a random step, so
the members' episodes end at different windows rather than all together.

Actions are the deterministic `tanh(mean)` (default) or a reparameterised
sample `tanh(mean + std eps)` (`stochastic=True`). Multi-agent envs
(observations, actions and rewards keyed by team with a leading agent axis)
get one network per team shared over its agents; the loss averages each
team's reward over agents and time, and then over teams.

Envs with neighbour lists (flocks) report `training/overflow` = 1 when a
list overflowed during an iteration (then rebuild the env with larger
capacities, `FlockEnv.with_capacity`); nothing is grown automatically.

An update whose gradient is not finite is skipped and counted
(`training/nonfinite_gradients`); `remat=True` recomputes each env step in the
backward pass instead of storing it (see `differentiable`).

Observation normalisation is off by default; when on, the statistics merge
each window's observations after its gradient step and are constants inside
the gradient.

    make_policy, params, metrics = apg.train("pendulum", 1_000_000, horizon_length=32)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from gambol.envs.base import Env
from gambol.training import acting, differentiable, loop, setup
from gambol.training.gradients import gradient_update
from gambol.training.differentiable import desynchronize  # noqa: F401  (apg.desynchronize)


@dataclasses.dataclass(frozen=True)
class APGConfig:
    """Options of `train` (each can also be passed to `train` as a keyword).

    num_envs: env members stepped together.
    episode_length: agent steps per episode (episodes auto-reset).
    horizon_length: steps per window; the gradient is truncated to a window.
    learning_rate: Adam step size.
    max_gradient_norm: global-norm clip of each window's gradient.
    stochastic: act with a reparameterised sample instead of `tanh(mean)`.
    remat: rematerialise each env step of a window in the backward pass (memory).
    hidden: hidden layer sizes of the policy network.
    normalize_observations: running observation statistics in the policy.
    num_evals: evaluations over training (one jitted iteration before each).
    num_eval_envs: episodes per evaluation.
    """
    num_envs: int = 64
    episode_length: int = 200
    horizon_length: int = 32
    learning_rate: float = 1e-3
    max_gradient_norm: float = 1.0
    stochastic: bool = False
    remat: bool = False
    hidden: tuple[int, ...] = (32, 32)
    normalize_observations: bool = False
    num_evals: int = 10
    num_eval_envs: int = 16

    def __post_init__(self):
        setup.check_positive(self, ("num_envs", "episode_length", "horizon_length", "num_evals",
                                     "num_eval_envs"), ("learning_rate", "max_gradient_norm"))
        differentiable.check_horizon(self)
        object.__setattr__(self, "hidden", tuple(self.hidden))


@struct.dataclass
class TrainingState:
    """Everything APG carries from one window to the next."""
    network_params: Any
    optimizer_state: Any
    obs_stats: Any          # RunningStats, or {team: RunningStats}
    env_state: Any          # the batched env's State, carried across windows
    key: jax.Array
    window: jax.Array       # [] int32, gradient steps done


# -- the window loss --------------------------------------------------------------------

def _mean_reward(reward) -> jax.Array:
    """Mean over time, members and agents of each team, then over teams."""
    leaves = jax.tree.leaves(reward)
    return sum(jnp.mean(r) for r in leaves) / len(leaves)


def make_window_loss(env: Env, make_policy, join, horizon_length: int, stochastic: bool = False,
                     remat: bool = False):
    """`loss(network_params, obs_stats, env_state, key) -> (loss, (env_state, obs))`:
    minus the mean reward of `horizon_length` steps from `env_state`, differentiable
    in `network_params` through the env; `obs: [horizon_length, num_envs, ...]`."""
    def loss(network_params, obs_stats, env_state, key):
        policy = make_policy(join(obs_stats, network_params), deterministic=not stochastic)
        env_state, transitions = differentiable.unroll(env, env_state, policy, key,
                                                       horizon_length, remat)
        return -_mean_reward(transitions.reward), (env_state, transitions.obs)

    return loss


# -- training -------------------------------------------------------------------------------

def make_optimizer(config: APGConfig) -> optax.GradientTransformation:
    return differentiable.make_optimizer(config.learning_rate, config.max_gradient_norm)


def make_training_iteration(env: Env, make_policy, join, config: APGConfig, windows: int):
    """A jitted `training_iteration(state) -> (state, metrics)`: `windows`
    gradient steps in a `lax.scan`. `env` is batched and auto-resetting."""
    differentiable.check_continuous(env, "apg")
    loss_fn = make_window_loss(env, make_policy, join, config.horizon_length, config.stochastic,
                               config.remat)
    update = gradient_update(loss_fn, make_optimizer(config), has_aux=True)

    def window(state: TrainingState, _):
        key, window_key = jax.random.split(state.key)
        start = jax.lax.stop_gradient(state.env_state)      # truncate the gradient here
        (loss, (env_state, obs)), params, opt_state = update(
            state.network_params, state.optimizer_state, state.obs_stats, start, window_key)
        obs_stats = acting.update_obs_stats(state.obs_stats, obs,
                                            not config.normalize_observations)
        new = TrainingState(params, opt_state, obs_stats, env_state, key, state.window + 1)
        metrics = {"training/loss": loss,
                   "training/nonfinite_gradients": differentiable.skipped(opt_state)}
        if "overflow" in env_state.metrics:   # a neighbour list too small: the gradient is wrong
            metrics["training/overflow"] = jnp.max(env_state.metrics["overflow"])
        return new, metrics

    return differentiable.scan_windows(window, windows)


def build(env: Env, policy: setup.PolicyNetwork, config: APGConfig, num_timesteps: int,
          mesh) -> loop.Training:
    """APG for `training.loop`: a unit is one window (see `differentiable.training`)."""
    def init(key):
        key, init_key, env_key, scramble_key, eval_key = jax.random.split(key, 5)
        obs_stats, network_params = policy.init(init_key)
        env_state = desynchronize(jax.jit(env.reset)(env_key), scramble_key, config.episode_length)
        return TrainingState(network_params, make_optimizer(config).init(network_params), obs_stats,
                             env_state, key, jnp.zeros((), jnp.int32)), eval_key

    return differentiable.training(
        config, init,
        lambda windows: make_training_iteration(env, policy.make_policy, policy.join, config, windows),
        params_of=lambda state: policy.join(state.obs_stats, state.network_params))


TRAINER = loop.Trainer("apg", APGConfig, build)


def policy_spec(environment: str | Env, config: APGConfig | None = None,
                env_kwargs: dict | None = None):
    """`(make_policy, abstract params)` of the policy `train` returns for these
    settings: the params as `jax.ShapeDtypeStruct`s, to restore a saved policy into."""
    return loop.policy_spec(TRAINER, environment, config, env_kwargs)


def train(environment: str | Env, num_timesteps: int, *, config: APGConfig | None = None,
          env_kwargs: dict | None = None, seed: int = 0,
          progress_fn: Callable[[int, dict], None] | None = None, checkpoint_dir: str | None = None,
          checkpoint_every: int = 1, resume: bool = False, num_devices: int | None = None,
          **overrides):
    """Train a policy by analytic policy gradients through the env.

    `environment` is a registered name (built with `env_kwargs`) or a gambol Env
    whose step is differentiable (see `setup.make_envs`); `num_timesteps` the env
    steps to run at least (num_envs x horizon_length per gradient step); keywords
    in `overrides` replace fields of `config` (an `APGConfig`);
    `progress_fn(num_steps, metrics)` is called after the initial evaluation and
    after every iteration; `checkpoint_dir`, `checkpoint_every`, `resume` and
    `num_devices` (splitting `num_envs`) are `loop.RunOptions`. Returns
    `(make_policy, params, metrics)` as `es.train` does.
    """
    return loop.train(TRAINER, environment, num_timesteps, config=config, env_kwargs=env_kwargs,
                      seed=seed, progress_fn=progress_fn, checkpoint_dir=checkpoint_dir,
                      checkpoint_every=checkpoint_every, resume=resume, num_devices=num_devices,
                      overrides=overrides)
