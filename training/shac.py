"""Short-horizon actor-critic (SHAC; Xu et al. 2022, "Accelerated Policy Learning
with Parallel Differentiable Simulation", ICLR): analytic policy gradients over
short windows, with a learned critic standing in for the rest of the episode.

Each window runs `horizon_length` = H steps of `policy -> env.step` from the
carried env state (gradient stopped at the window's start, as in APG). The
actor minimises the paper's L_theta (sec. 3, "Short-Horizon Actor-Critic")

    L(theta) = -1 / (N H) sum_i [ sum_{t < H} gamma^t r_t^i + gamma^H V'(s_H^i) ],

differentiated through the env's dynamics; `V'` is the target critic. An
episode that ends inside the window closes its own sum there: it bootstraps
from `V'` of the observation it reached when the time limit cut it, not at all
when it terminated, and the member's next episode starts a new discounted sum
(a reset state does not depend on the policy, so the other members' gradients
and the earlier part of this one's are untouched).

The critic `V` then regresses the window's TD(lambda) targets (the paper's V~),

    V~_t = (1 - lambda) sum_{k=1}^{H-t-1} lambda^(k-1) G_t^k + lambda^(H-t-1) G_t^(H-t),
    G_t^k = sum_{l<k} gamma^l r_{t+l} + gamma^k V'(s_{t+k}),

computed from the window's rewards and target values with their gradient
stopped (the recursion `gae.gae` computes; see `td_lambda_targets`), by a
squared error (L_phi) over `critic_iterations` epochs of `critic_minibatches`
shuffled minibatches, after which the target moves by Polyak averaging,
`V' <- alpha V' + (1 - alpha) V` (Algorithm 1).

Updates whose gradient is not finite are skipped and counted
(`training/nonfinite_gradients` for the actor, `training/nonfinite_value_gradients`
for the critic); `remat` recomputes each env step of a window in the backward
pass (see `differentiable`). Observations are normalised by running statistics
that merge each window's observations after the actor's step (constants inside
the gradient). Single-agent envs with continuous actions.

    make_policy, params, metrics = shac.train("pendulum", 300_000, horizon_length=32)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from gambol.agents import ValueNetwork, normalize
from gambol.envs.base import Env
from gambol.training import acting, differentiable, loop, setup
from gambol.training.gae import gae
from gambol.training.gradients import gradient_update


@dataclasses.dataclass(frozen=True)
class SHACConfig:
    """Options of `train` (each can also be passed to `train` as a keyword); the
    defaults follow the paper's appendix where it gives one.

    num_envs: env members stepped together (N).
    episode_length: agent steps per episode (episodes auto-reset).
    horizon_length: steps per window (H, at most `episode_length`).
    discount: gamma.
    td_lambda: lambda of the critic's TD(lambda) targets.
    actor_learning_rate, critic_learning_rate: Adam step sizes.
    critic_iterations: epochs over each window's samples for the critic.
    critic_minibatches: minibatches per epoch (must divide N H).
    target_alpha: Polyak weight of the old target critic, V' <- alpha V' + (1 - alpha) V.
    max_gradient_norm: global-norm clip of the actor's and the critic's gradient (None: none).
    reward_scaling: rewards are multiplied by this in both losses.
    stochastic: act with a reparameterised sample `tanh(mean + std eps)` (the paper's
        stochastic actor; over 5 seeds it swung pendulum up where `tanh(mean)` stalled
        in 1), else with `tanh(mean)`.
    remat: rematerialise each env step of a window in the backward pass (memory).
    hidden, value_hidden: hidden layer sizes of the policy and of the critic.
    normalize_observations: running observation statistics in the policy and critic.
    num_evals: evaluations over training (one jitted iteration before each).
    num_eval_envs: episodes per evaluation.
    """
    num_envs: int = 64
    episode_length: int = 200
    horizon_length: int = 32
    discount: float = 0.99
    td_lambda: float = 0.95
    actor_learning_rate: float = 2e-3
    critic_learning_rate: float = 2e-3
    critic_iterations: int = 16
    critic_minibatches: int = 4
    target_alpha: float = 0.2
    max_gradient_norm: float | None = 1.0
    reward_scaling: float = 1.0
    stochastic: bool = True
    remat: bool = False
    hidden: tuple[int, ...] = (64, 64)
    value_hidden: tuple[int, ...] = (64, 64)
    normalize_observations: bool = True
    num_evals: int = 10
    num_eval_envs: int = 16

    def __post_init__(self):
        setup.check_positive(self, ("num_envs", "episode_length", "horizon_length",
                                    "critic_iterations", "critic_minibatches", "num_evals",
                                    "num_eval_envs"),
                             ("actor_learning_rate", "critic_learning_rate", "reward_scaling"))
        differentiable.check_horizon(self)
        if self.max_gradient_norm is not None and not self.max_gradient_norm > 0:
            raise ValueError(f"SHACConfig.max_gradient_norm: expected > 0 or None, "
                             f"got {self.max_gradient_norm!r}")
        for name in ("discount", "td_lambda", "target_alpha"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"SHACConfig.{name}: expected a value in [0, 1], "
                                 f"got {getattr(self, name)!r}")
        samples = self.num_envs * self.horizon_length
        if samples % self.critic_minibatches:
            raise ValueError(f"SHACConfig.critic_minibatches: must divide num_envs * horizon_length"
                             f" = {samples}, got {self.critic_minibatches}")
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "value_hidden", tuple(self.value_hidden))


@struct.dataclass
class TrainingState:
    """Everything SHAC carries from one window to the next."""
    policy_params: Any
    value_params: Any            # the critic V
    target_value_params: Any     # the target critic V'
    policy_optimizer_state: Any
    value_optimizer_state: Any
    obs_stats: Any               # RunningStats
    env_state: Any               # the batched env's State, carried across windows
    key: jax.Array
    window: jax.Array            # [] int32, windows done


# -- returns and targets ---------------------------------------------------------------------

def _bootstrap(discounts, truncations):
    """[H, B]: 0 where the episode terminated, 1 elsewhere (a truncated episode bootstraps)."""
    return discounts + (1.0 - discounts) * truncations


def window_objective(rewards, next_values, discounts, truncations, gamma: float):
    """[B]: each member's discounted reward over the window plus the discounted value
    where each of its episodes leaves the window (L_theta, inside the sum over i).

    rewards, next_values, discounts, truncations: `[H, B]`; `next_values[t] = V'(s'_t)`,
    the value of the observation step t reached (before any reset). The weight of
    step t is gamma^k, k the steps since its episode entered the window; an episode
    ends at a done step or at the window's end, where it adds gamma^(k+1) V'(s'_t)
    unless it terminated.
    """
    def weight(w, discount):                  # gamma^k, back to 1 after a done step
        return gamma * w * discount + (1.0 - discount), w

    _, weights = jax.lax.scan(weight, jnp.ones_like(rewards[0]), discounts)
    ends = (1.0 - jnp.asarray(discounts)).at[-1].set(1.0)
    bootstrap = ends * _bootstrap(discounts, truncations) * gamma * next_values
    return jnp.sum(weights * (rewards + bootstrap), axis=0)


def td_lambda_targets(rewards, values, next_values, discounts, truncations,
                      td_lambda: float, gamma: float):
    """[H, B] TD(lambda) targets V~_t of one window, as the recursion
    V~_t = r_t + gamma [(1 - lambda) V'(s'_t) + lambda V~_{t+1}] that `gae` computes
    (V~_H = V'(s_H); no recursion past a done step; no bootstrap at termination).

    values: `[H, B]` V'(s_t); the rest as in `window_objective`."""
    return gae(rewards, values, next_values, discounts, truncations, td_lambda, gamma)[1]


# -- the two losses --------------------------------------------------------------------------

def make_value_fn(value_network: ValueNetwork, normalize_observations: bool):
    """`value(params, obs_stats, obs [..., obs]) -> [...]`."""
    def value(params, obs_stats, obs):
        return value_network.apply(params, normalize(obs_stats, obs) if normalize_observations else obs)

    return value


def make_actor_loss(env: Env, make_policy, value_fn, config: SHACConfig):
    """`loss(policy_params, target_value_params, obs_stats, env_state, key) ->
    (loss, (env_state, transitions))`: L_theta over one window from `env_state`,
    differentiable in `policy_params` through the env; transitions `[H, N, ...]`."""
    def loss(policy_params, target_value_params, obs_stats, env_state, key):
        policy = make_policy((obs_stats, policy_params), deterministic=not config.stochastic)
        env_state, transitions = differentiable.unroll(
            env, env_state, policy, key, config.horizon_length, config.remat)
        rewards = config.reward_scaling * transitions.reward                        # [H, N]
        next_values = value_fn(target_value_params, obs_stats, transitions.next_obs)  # [H, N]
        objective = window_objective(rewards, next_values, transitions.discount,
                                     transitions.truncation, config.discount)
        return -jnp.mean(objective) / config.horizon_length, (env_state, transitions)

    return loss


def make_critic_loss(value_fn):
    """`loss(value_params, obs_stats, (obs [M, obs], targets [M])) -> mean squared error` (L_phi)."""
    def loss(value_params, obs_stats, batch):
        obs, targets = batch
        return jnp.mean(jnp.square(value_fn(value_params, obs_stats, obs) - targets))

    return loss


# -- training --------------------------------------------------------------------------------

def make_optimizers(config: SHACConfig):
    """(actor optimizer, critic optimizer): clipped Adam, skipping non-finite updates."""
    return (differentiable.make_optimizer(config.actor_learning_rate, config.max_gradient_norm),
            differentiable.make_optimizer(config.critic_learning_rate, config.max_gradient_norm))


def make_training_iteration(env: Env, make_policy, value_network: ValueNetwork, config: SHACConfig,
                            windows: int):
    """A jitted `training_iteration(state) -> (state, metrics)`: `windows` windows
    (actor step, critic epochs, target update) in a `lax.scan`. `env` is batched
    and auto-resetting."""
    differentiable.check_continuous(env, "shac")
    if env.is_multi_agent:
        raise ValueError(f"shac: env {type(env.unwrapped).__name__} is multi-agent; "
                         f"SHAC trains single-agent envs")
    value_fn = make_value_fn(value_network, config.normalize_observations)
    actor_optimizer, critic_optimizer = make_optimizers(config)
    actor_update = gradient_update(make_actor_loss(env, make_policy, value_fn, config),
                                   actor_optimizer, has_aux=True)
    critic_update = gradient_update(make_critic_loss(value_fn), critic_optimizer)
    num_samples = config.num_envs * config.horizon_length

    def critic_epoch(carry, key):
        params, opt_state, obs_stats, batch = carry
        order = jax.random.permutation(key, num_samples)
        shuffled = jax.tree.map(
            lambda x: jnp.reshape(x[order], (config.critic_minibatches, -1) + x.shape[1:]), batch)

        def minibatch(carry, minibatch):
            params, opt_state = carry
            loss, params, opt_state = critic_update(params, opt_state, obs_stats, minibatch)
            return (params, opt_state), (loss, differentiable.skipped(opt_state))

        (params, opt_state), out = jax.lax.scan(minibatch, (params, opt_state), shuffled)
        return (params, opt_state, obs_stats, batch), out

    def window(state: TrainingState, _):
        key, actor_key, critic_key = jax.random.split(state.key, 3)
        start = jax.lax.stop_gradient(state.env_state)      # truncate the gradient here
        # actor: one step on L_theta through the window
        (actor_loss, (env_state, tr)), policy_params, policy_opt_state = actor_update(
            state.policy_params, state.policy_optimizer_state, state.target_value_params,
            state.obs_stats, start, actor_key)
        tr = jax.lax.stop_gradient(tr)
        obs_stats = acting.update_obs_stats(state.obs_stats, tr.obs,
                                            not config.normalize_observations)
        # critic: TD(lambda) targets V~ from the target critic, then epochs on L_phi
        values = value_fn(state.target_value_params, obs_stats, tr.obs)
        next_values = value_fn(state.target_value_params, obs_stats, tr.next_obs)
        targets = td_lambda_targets(config.reward_scaling * tr.reward, values, next_values,
                                    tr.discount, tr.truncation, config.td_lambda, config.discount)
        batch = jax.tree.map(lambda x: jnp.reshape(x, (num_samples,) + x.shape[2:]),
                             (tr.obs, targets))
        (value_params, value_opt_state, _, _), (critic_losses, critic_skipped) = jax.lax.scan(
            critic_epoch, (state.value_params, state.value_optimizer_state, obs_stats, batch),
            jax.random.split(critic_key, config.critic_iterations))
        # target critic: V' <- alpha V' + (1 - alpha) V (Algorithm 1)
        target = optax.incremental_update(value_params, state.target_value_params,
                                          1.0 - config.target_alpha)
        new = TrainingState(policy_params, value_params, target, policy_opt_state, value_opt_state,
                            obs_stats, env_state, key, state.window + 1)
        metrics = {"training/actor_loss": actor_loss,
                   "training/critic_loss": jnp.mean(critic_losses),
                   "training/mean_reward": jnp.mean(tr.reward),
                   "training/nonfinite_gradients": differentiable.skipped(policy_opt_state),
                   "training/nonfinite_value_gradients": jnp.sum(critic_skipped)}
        return new, metrics

    return differentiable.scan_windows(window, windows)


def init_state(env: Env, init_policy, value_network: ValueNetwork, config: SHACConfig,
               key) -> TrainingState:
    """Fresh networks (the target critic a copy of the critic), optimizer states and
    desynchronised env members."""
    key, policy_key, value_key, env_key, scramble_key = jax.random.split(key, 5)
    obs_stats, policy_params = init_policy(policy_key)
    value_params = value_network.init(value_key, jnp.zeros((1, env.observation_size)))
    actor_optimizer, critic_optimizer = make_optimizers(config)
    env_state = differentiable.desynchronize(env.reset(env_key), scramble_key, config.episode_length)
    return TrainingState(policy_params, value_params, value_params,
                         actor_optimizer.init(policy_params), critic_optimizer.init(value_params),
                         obs_stats, env_state, key, jnp.zeros((), jnp.int32))


def build(env: Env, policy: setup.PolicyNetwork, config: SHACConfig, num_timesteps: int,
          mesh) -> loop.Training:
    """SHAC for `training.loop`: a unit is one window (see `differentiable.training`)."""
    value_network = ValueNetwork(config.value_hidden)

    def init(key):
        init_key, eval_key = jax.random.split(key)
        return jax.jit(lambda key: init_state(env, policy.init, value_network, config, key))(
            init_key), eval_key

    return differentiable.training(
        config, init,
        lambda windows: make_training_iteration(env, policy.make_policy, value_network, config,
                                                windows),
        params_of=lambda state: policy.join(state.obs_stats, state.policy_params))


TRAINER = loop.Trainer("shac", SHACConfig, build)


def policy_spec(environment: str | Env, config: SHACConfig | None = None, env_kwargs=None):
    """`(make_policy, abstract params)` of `train`'s policy, as `apg.policy_spec`."""
    return loop.policy_spec(TRAINER, environment, config, env_kwargs)


def train(environment: str | Env, num_timesteps: int, *, config: SHACConfig | None = None,
          env_kwargs: dict | None = None, seed: int = 0,
          progress_fn: Callable[[int, dict], None] | None = None, checkpoint_dir: str | None = None,
          checkpoint_every: int = 1, resume: bool = False, num_devices: int | None = None,
          **overrides):
    """Train a policy by SHAC: analytic gradients through short windows of the env
    plus a learned critic. Arguments and result as `apg.train`'s, with `config` a
    `SHACConfig` (keywords in `overrides` replace its fields); `num_timesteps`
    counts num_envs x horizon_length env steps per window. The metrics add
    `training/actor_loss`, `training/critic_loss`, `training/mean_reward` and the
    skipped updates, `training/nonfinite_gradients` (actor) and
    `training/nonfinite_value_gradients` (critic minibatches).
    """
    return loop.train(TRAINER, environment, num_timesteps, config=config, env_kwargs=env_kwargs,
                      seed=seed, progress_fn=progress_fn, checkpoint_dir=checkpoint_dir,
                      checkpoint_every=checkpoint_every, resume=resume, num_devices=num_devices,
                      overrides=overrides)
