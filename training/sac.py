"""Soft actor-critic on the device, with an on-device replay buffer.

SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications")
learns a tanh-squashed Gaussian policy pi and twin critics Q_1, Q_2 from
replayed transitions (s, a, r, s'):

  critic:  y = c r + gamma m (min_i Qbar_i(s', a') - alpha log pi(a'|s')),  a' ~ pi(s')
           L_Q = 1/2 sum_i E[(Q_i(s, a) - y)^2]                     (eq. 5-7, twin Q: Sec. 5)
  actor:   L_pi = E[alpha log pi(a|s) - min_i Q_i(s, a)],  a ~ pi(s) reparameterised  (eq. 10)
  alpha:   L_alpha = E[-alpha (log pi(a|s) + H_target)],  H_target = -action_size (eq. 18)
  target:  Qbar <- (1 - tau) Qbar + tau Q                           (Polyak averaging)

with c = `reward_scaling` and m the bootstrap mask: 0 where the episode ended
by termination, 1 otherwise, including time-limit truncations, whose `next_obs`
is the observation the episode reached before the auto-reset (see
`training.acting`).

Structure (the sections below follow it):
  1. config:    `SACConfig`, a frozen dataclass; `train(..., **overrides)` replaces fields.
  2. state:     `TrainingState`, one pytree holding everything that changes;
                `Parts`, the static networks and optimizers the functions close over.
  3. losses:    the three losses above and `make_sgd_step`: one SGD step on a sampled batch.
  4. iteration: `make_prefill`: uniform random actions fill the buffer (one scan);
                `make_training_iteration(state) -> (state, metrics)`: a scan of
                [env step, insert, `grad_updates_per_step` SGD steps].
  5. train:     `build` for `training.loop.train`: the state, prefilled; a unit of
                the budget is one env step of the batch. The loop runs iteration,
                checkpoint, evaluation of the deterministic policy on a separate
                non-resetting batched env, `progress_fn(env_steps, metrics)`.

Device parallelism is the loop's (`training.loop`, `training.parallel`): the
jitted iteration runs with the env batch split over a device mesh.

Checkpoints (`train(checkpoint_dir=...)`): `TrainingState` is the whole run,
so saving it resumes exactly, and the replay buffer is part of it. The buffer
takes 4 (2 obs_size + action_size + 3) bytes per transition of capacity in
float32 (obs, next_obs, action, reward, discount, truncation): 40 MB for
pendulum at 10^6 transitions, written whole at every checkpoint. That is cheap
at gambol's sizes and makes a resumed run equal an uninterrupted one; a run
with large observations and buffers should checkpoint less often
(`checkpoint_every`). Each env step splits the carried key, so a run's updates do
not depend on how its budget is cut into iterations, and a finished run
continued to more steps equals an uninterrupted one: with the default
`max_replay_size` (None: room for every transition of the run) the continued run's buffer
grows to the new budget, holding the first run's transitions where an
uninterrupted run would (that buffer never wrapped).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from gambol.agents import distributions
from gambol.agents.networks import QNetwork
from gambol.agents.normalization import RunningStats, init_stats, normalize, update_stats
from gambol.envs.base import Env, State, like
from gambol.training import loop, replay_buffer, setup
from gambol.training.acting import Transition, actor_step
from gambol.training.gradients import gradient_update
from gambol.training.replay_buffer import ReplayBuffer

KIND = "tanh_normal"


# -- 1. config ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Static settings of a SAC run.

    num_envs: env batch stepped together; one env step adds num_envs transitions.
    episode_length: agent steps per episode (training and evaluation).
    num_evals: evaluations, the first before training; training is split into
      max(num_evals - 1, 1) jitted iterations between them.
    num_eval_envs: episodes per evaluation.
    batch_size: transitions per SGD step.
    grad_updates_per_step: SGD steps after each env step of the batch.
    learning_rate: Adam step size of the policy and the critics.
    alpha_learning_rate: Adam step size of log alpha.
    init_alpha: entropy temperature at the start.
    discount: gamma.
    tau: Polyak rate of the target critics.
    reward_scaling: c, multiplies rewards in the critic target.
    min_replay_size: transitions collected with uniform random actions before training.
    max_replay_size: replay capacity in transitions (None: keep all the run's, about num_timesteps).
    normalize_observations: standardise observations with running statistics.
    policy_hidden, q_hidden: hidden layer sizes of the policy and of each critic.
    """
    num_envs: int = 32
    episode_length: int = 1000
    num_evals: int = 10
    num_eval_envs: int = 16
    batch_size: int = 256
    grad_updates_per_step: int = 1
    learning_rate: float = 3e-4
    alpha_learning_rate: float = 3e-4
    init_alpha: float = 1.0
    discount: float = 0.99
    tau: float = 0.005
    reward_scaling: float = 1.0
    min_replay_size: int = 1000
    max_replay_size: int | None = None
    normalize_observations: bool = True
    policy_hidden: Sequence[int] = (256, 256)
    q_hidden: Sequence[int] = (256, 256)

    def __post_init__(self):
        setup.check_positive(self, ("num_envs", "episode_length", "num_evals", "num_eval_envs",
                                    "batch_size", "grad_updates_per_step", "min_replay_size"))
        if self.max_replay_size is not None:
            setup.check_positive(self, ("max_replay_size",))
        for name in ("learning_rate", "alpha_learning_rate", "init_alpha", "reward_scaling"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SACConfig.{name}: expected a positive number, got {getattr(self, name)!r}")
        for name in ("discount", "tau"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"SACConfig.{name}: expected a number in (0, 1], got {getattr(self, name)!r}")
        for name in ("policy_hidden", "q_hidden"):
            sizes = tuple(getattr(self, name))
            if not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
                raise ValueError(f"SACConfig.{name}: expected positive layer sizes, got {sizes!r}")
            object.__setattr__(self, name, sizes)


# -- 2. state -------------------------------------------------------------------------

@struct.dataclass
class TrainingState:
    """Everything a SAC run changes; saving it (and `Parts`' config) resumes the run."""
    policy_params: Any
    policy_opt_state: Any
    q_params: Any
    q_opt_state: Any
    target_q_params: Any
    log_alpha: jax.Array          # []
    alpha_opt_state: Any
    obs_stats: RunningStats
    buffer: ReplayBuffer          # of Transition (extras empty), leaves [capacity, ...]
    env_state: State              # the training env batch, leaves [num_envs, ...]
    key: jax.Array
    env_steps: jax.Array          # [] int32, transitions collected (prefill included)
    grad_steps: jax.Array         # [] int32, SGD steps taken


@dataclasses.dataclass(frozen=True)
class Parts:
    """The static pieces the jitted functions close over."""
    env: Env
    config: SACConfig
    action_size: int
    policy_net: Any
    q_net: Any
    policy_optimizer: optax.GradientTransformation
    q_optimizer: optax.GradientTransformation
    alpha_optimizer: optax.GradientTransformation
    make_policy: Callable         # make_policy((obs_stats, policy_params), deterministic)

    def normalize(self, stats, obs):
        return normalize(stats, obs) if self.config.normalize_observations else obs

    def sample_action(self, policy_params, obs, key):
        """(action, log pi(action|obs)) for normalised `obs: [batch, obs_size]`."""
        action, _, log_prob = distributions.sample_pre_tanh(
            KIND, self.policy_net.apply(policy_params, obs), key)
        return action, log_prob


def make_parts(env: Env, config: SACConfig, policy: setup.PolicyNetwork | None = None) -> Parts:
    """The networks and optimizers of `config` for the batched training `env`;
    `policy` defaults to `setup.policy_network` of `config`."""
    policy = policy or setup.policy_network(env, config.policy_hidden, config.normalize_observations)
    return Parts(
        env=env, config=config, action_size=env.action_size,
        policy_net=policy.networks[setup.SINGLE],
        q_net=QNetwork(config.q_hidden, n_critics=2),
        policy_optimizer=optax.adam(config.learning_rate),
        q_optimizer=optax.adam(config.learning_rate),
        alpha_optimizer=optax.adam(config.alpha_learning_rate),
        make_policy=policy.make_policy)


# -- 3. losses ------------------------------------------------------------------------

def alpha_loss(parts: Parts, log_alpha, policy_params, obs, key):
    """L_alpha = E[-alpha (log pi(a|s) + H_target)] with H_target = -action_size:
    alpha grows while the entropy E[-log pi] is below H_target and shrinks above it."""
    _, log_prob = parts.sample_action(policy_params, obs, key)
    target_entropy = -float(parts.action_size)
    return -jnp.mean(jnp.exp(log_alpha) * jax.lax.stop_gradient(log_prob + target_entropy))


def critic_target(parts: Parts, policy_params, target_q_params, alpha, batch: Transition,
                  next_obs, key):
    """y = c r + gamma m (min_i Qbar_i(s', a') - alpha log pi(a'|s')): `[batch]`;
    next_obs: [batch, obs_size] normalised."""
    config = parts.config
    next_action, next_log_prob = parts.sample_action(policy_params, next_obs, key)
    next_q = jnp.min(parts.q_net.apply(target_q_params, next_obs, next_action), axis=-1)
    # bootstrap unless terminated: a truncated step has discount 0 but truncation 1
    bootstrap = jnp.maximum(batch.discount, batch.truncation)
    return (config.reward_scaling * batch.reward
            + config.discount * bootstrap * (next_q - alpha * next_log_prob))


def critic_loss(parts: Parts, q_params, policy_params, target_q_params, alpha,
                obs, batch: Transition, next_obs, key):
    """1/2 sum_i E[(Q_i(s, a) - y)^2]; obs, next_obs: [batch, obs_size] normalised."""
    target = critic_target(parts, policy_params, target_q_params, alpha, batch, next_obs, key)
    q = parts.q_net.apply(q_params, obs, batch.action)               # [batch, 2]
    error = q - jax.lax.stop_gradient(target)[:, None]
    return 0.5 * jnp.mean(jnp.sum(jnp.square(error), axis=-1))


def actor_loss(parts: Parts, policy_params, q_params, alpha, obs, key):
    """E[alpha log pi(a|s) - min_i Q_i(s, a)]; returns (loss, log pi)."""
    action, log_prob = parts.sample_action(policy_params, obs, key)
    q = jnp.min(parts.q_net.apply(q_params, obs, action), axis=-1)
    return jnp.mean(alpha * log_prob - q), log_prob


def make_sgd_step(parts: Parts):
    """`sgd_step(state, key) -> (state, metrics)`: one batch from the buffer,
    then the alpha, critic and actor updates and the target Polyak step."""
    update_alpha = gradient_update(partial(alpha_loss, parts), parts.alpha_optimizer)
    update_critic = gradient_update(partial(critic_loss, parts), parts.q_optimizer)
    update_actor = gradient_update(partial(actor_loss, parts), parts.policy_optimizer,
                                   has_aux=True)
    tau = parts.config.tau

    def sgd_step(state: TrainingState, key):
        k_batch, k_alpha, k_critic, k_actor = jax.random.split(key, 4)
        batch = replay_buffer.sample(state.buffer, k_batch, parts.config.batch_size)
        obs = parts.normalize(state.obs_stats, batch.obs)
        next_obs = parts.normalize(state.obs_stats, batch.next_obs)

        a_loss, log_alpha, alpha_opt_state = update_alpha(
            state.log_alpha, state.alpha_opt_state, state.policy_params, obs, k_alpha)
        alpha = jnp.exp(log_alpha)
        q_loss, q_params, q_opt_state = update_critic(
            state.q_params, state.q_opt_state, state.policy_params,
            state.target_q_params, alpha, obs, batch, next_obs, k_critic)
        (pi_loss, log_prob), policy_params, policy_opt_state = update_actor(
            state.policy_params, state.policy_opt_state, q_params, alpha, obs, k_actor)
        target_q_params = jax.tree.map(lambda t, q: (1 - tau) * t + tau * q,
                                       state.target_q_params, q_params)

        state = state.replace(
            policy_params=policy_params, policy_opt_state=policy_opt_state, q_params=q_params,
            q_opt_state=q_opt_state, target_q_params=target_q_params, log_alpha=log_alpha,
            alpha_opt_state=alpha_opt_state, grad_steps=state.grad_steps + 1)
        metrics = {"critic_loss": q_loss, "actor_loss": pi_loss, "alpha_loss": a_loss,
                   "alpha": alpha, "entropy": -jnp.mean(log_prob)}
        return state, metrics

    return sgd_step


# -- 4. iteration ---------------------------------------------------------------------

def make_env_step(parts: Parts, policy_fn: Callable):
    """`env_step(state, key) -> (state, mean reward)`: the env batch takes one step
    with `policy_fn(state)`'s actions; the transitions go into the buffer and their
    observations into the running statistics."""
    frozen = not parts.config.normalize_observations

    def env_step(state: TrainingState, key):
        env_state, transition = actor_step(parts.env, state.env_state, policy_fn(state), key)
        # stored in the buffer's dtypes: with float64 enabled, random and learned actions
        # may differ in width
        transition = like(transition.replace(extras={}), state.buffer.data)
        state = state.replace(
            env_state=env_state,
            buffer=replay_buffer.insert(state.buffer, transition),
            obs_stats=update_stats(state.obs_stats, transition.obs, frozen),
            env_steps=state.env_steps + parts.config.num_envs)
        return state, jnp.mean(transition.reward)

    return env_step


def _random_policy(parts: Parts):
    shape = (parts.config.num_envs, parts.action_size)

    def policy(obs, key):
        return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0), {}

    return lambda state: policy


def make_prefill(parts: Parts, num_steps: int):
    """`prefill(state) -> state`: `num_steps` env steps of uniform random actions
    into the buffer (one scan)."""
    env_step = make_env_step(parts, _random_policy(parts))

    def prefill(state: TrainingState) -> TrainingState:
        key, sub = jax.random.split(state.key)
        state, _ = jax.lax.scan(env_step, state.replace(key=key), jax.random.split(sub, num_steps))
        return state

    return prefill


def make_training_iteration(parts: Parts, num_steps: int):
    """`training_iteration(state) -> (state, metrics)`: a scan of `num_steps` x
    [one env step with the stochastic policy, `grad_updates_per_step` SGD steps],
    each splitting the carried key (so k iterations of n steps equal one of k n);
    metrics are means over the iteration."""
    policy_fn = lambda state: parts.make_policy((state.obs_stats, state.policy_params))  # noqa: E731
    env_step = make_env_step(parts, policy_fn)
    sgd_step = make_sgd_step(parts)

    def one_env_step(state, _):
        key, k_env, k_sgd = jax.random.split(state.key, 3)
        state, reward = env_step(state.replace(key=key), k_env)
        state, metrics = jax.lax.scan(
            sgd_step, state, jax.random.split(k_sgd, parts.config.grad_updates_per_step))
        return state, {**metrics, "reward": reward}

    def training_iteration(state: TrainingState):
        state, metrics = jax.lax.scan(one_env_step, state, None, length=num_steps)
        return state, {**{f"training/{k}": jnp.mean(v) for k, v in metrics.items()},
                       "training/env_steps": state.env_steps, "training/grad_steps": state.grad_steps}

    return training_iteration


# -- 5. train -------------------------------------------------------------------------

def make_envs(environment, config: SACConfig, env_kwargs: dict | None = None) -> tuple[Env, Env]:
    """(training env: `num_envs` members, auto-resetting; evaluation env:
    `num_eval_envs` members, not resetting), see `setup.make_envs`; single-agent
    with actions in [-1, 1]."""
    train_env, eval_env = setup.config_envs(environment, config, config.num_envs, True, env_kwargs)
    if train_env.is_multi_agent:
        raise ValueError(f"sac.train: environment: multi-agent envs ({train_env.agents}) are not "
                         f"supported; SAC here learns one single-agent policy")
    spec = train_env.action_spec
    if not (np.all(spec.low == -1.0) and np.all(spec.high == 1.0)):
        raise ValueError(f"sac.train: environment: the tanh policy acts in [-1, 1]; expected "
                         f"action bounds -1 and 1, got low={spec.low}, high={spec.high}")
    return train_env, eval_env


def init_state(parts: Parts, capacity: int, key) -> TrainingState:
    """Fresh networks, optimizers and statistics, an empty buffer of `capacity`
    transitions and a reset env batch."""
    k_policy, k_q, k_env, k_train = jax.random.split(key, 4)
    env_state = jax.jit(parts.env.reset)(k_env)
    obs_size = env_state.obs.shape[-1]
    policy_params = parts.policy_net.init(k_policy, jnp.zeros((1, obs_size)))
    q_params = parts.q_net.init(k_q, jnp.zeros((1, obs_size)), jnp.zeros((1, parts.action_size)))
    log_alpha = jnp.asarray(math.log(parts.config.init_alpha), jnp.float32)

    example = jax.eval_shape(
        lambda s, k: actor_step(parts.env, s, _random_policy(parts)(None), k)[1], env_state, k_env)
    example = jax.tree.map(lambda x: jnp.zeros(x.shape[1:], x.dtype), example.replace(extras={}))
    zero = jnp.zeros((), jnp.int32)
    return TrainingState(
        policy_params=policy_params, policy_opt_state=parts.policy_optimizer.init(policy_params),
        q_params=q_params, q_opt_state=parts.q_optimizer.init(q_params), target_q_params=q_params,
        log_alpha=log_alpha, alpha_opt_state=parts.alpha_optimizer.init(log_alpha),
        obs_stats=init_stats(obs_size), buffer=replay_buffer.init(capacity, example),
        env_state=env_state, key=k_train, env_steps=zero, grad_steps=zero)


def _grown(restored: TrainingState, state: TrainingState) -> TrainingState:
    """`restored` with its replay buffer copied into `state`'s larger one: the
    same rows and size, the next write after them. What a run continued with a
    larger default capacity holds (an uninterrupted one's buffer, as the first
    run's never wrapped)."""
    old, new = restored.buffer, state.buffer
    if old.capacity >= new.capacity:
        return restored
    data = jax.tree.map(lambda n, o: n.at[:o.shape[0]].set(o), new.data, old.data)
    return restored.replace(buffer=old.replace(data=data, position=old.size))


def build(env: Env, policy: setup.PolicyNetwork, config: SACConfig, num_timesteps: int,
          mesh) -> loop.Training:
    """SAC for `training.loop`: a unit is one env step of the batch after the
    random prefill; `num_evals - 1` iterations (at least 1)."""
    prefill_steps = -(-config.min_replay_size // config.num_envs)
    if num_timesteps - prefill_steps * config.num_envs < config.num_envs:
        raise ValueError(f"sac.train: num_timesteps: expected more than the "
                         f"{prefill_steps * config.num_envs} prefill transitions "
                         f"(min_replay_size rounded up to num_envs) plus one env step, "
                         f"got {num_timesteps}")
    # the default keeps every transition of the run: prefill plus whole iterations
    iterations, steps_per_iteration = loop.split_budget(
        num_timesteps - prefill_steps * config.num_envs, config.num_envs, max(config.num_evals - 1, 1))
    capacity = (config.max_replay_size
                or (prefill_steps + iterations * steps_per_iteration) * config.num_envs)
    if capacity < max(config.min_replay_size, config.num_envs):
        raise ValueError(f"sac.train: max_replay_size: expected at least min_replay_size "
                         f"({config.min_replay_size}) and num_envs ({config.num_envs}), "
                         f"got {capacity}")
    parts = make_parts(env, config, policy)
    first_steps = prefill_steps * config.num_envs

    def init(key):
        key, eval_key = jax.random.split(key)
        return jax.jit(make_prefill(parts, prefill_steps))(init_state(parts, capacity, key)), eval_key

    def restore_like(state, saved):
        # a run continued with the default capacity restores the buffer it saved, then grows it
        saved_capacity = saved.get("capacity", capacity)
        if saved_capacity == capacity:
            return state
        example = jax.tree.map(lambda x: x[0], state.buffer.data)
        return state.replace(buffer=replay_buffer.init(saved_capacity, example))

    return loop.Training(
        init=init, iteration=lambda steps: jax.jit(make_training_iteration(parts, steps)),
        units=lambda state: (int(state.env_steps) - first_steps) // config.num_envs,
        steps_per_unit=config.num_envs,
        params_of=lambda state: (state.obs_stats, state.policy_params),
        max_iterations=max(config.num_evals - 1, 1), unit_name="steps_per_iteration",
        first_steps=first_steps, metadata={"capacity": capacity},
        restore_like=restore_like, adapt=_grown)


TRAINER = loop.Trainer("sac", SACConfig, build, hidden_field="policy_hidden", make_envs=make_envs)


def policy_spec(environment, config: SACConfig | None = None, env_kwargs: dict | None = None):
    """`(make_policy, abstract params)` of the policy `train` returns for these
    settings: the params as `jax.ShapeDtypeStruct`s, to restore a saved policy into."""
    return loop.policy_spec(TRAINER, environment, config, env_kwargs)


def train(environment, num_timesteps: int, *, config: SACConfig | None = None,
          env_kwargs: dict | None = None, seed: int = 0,
          progress_fn: Callable[[int, dict], None] | None = None, checkpoint_dir: str | None = None,
          checkpoint_every: int = 1, resume: bool = False, num_devices: int | None = None,
          **overrides):
    """Train SAC on `environment` (a registered name, built with `env_kwargs`, or
    a single-agent Env, see `setup.make_envs`) for about `num_timesteps` env
    transitions (the random prefill included). Actions are in [-1, 1].

    Keyword overrides replace fields of `config` (see `SACConfig`).
    `progress_fn(env_steps, metrics)` is called on the host after the first
    evaluation and after each training iteration. `checkpoint_dir`,
    `checkpoint_every`, `resume` and `num_devices` (splitting `num_envs`) are
    `loop.RunOptions`; a checkpoint holds the replay buffer, and a resumed run
    continues to `num_timesteps` in total (see the module docstring).

    Returns `(make_policy, params, metrics)`: `make_policy(params,
    deterministic)` builds the policy, `params = (obs_stats, policy_params)`,
    and `metrics` are the last iteration's and evaluation's figures.
    """
    return loop.train(TRAINER, environment, num_timesteps, config=config, env_kwargs=env_kwargs,
                      seed=seed, progress_fn=progress_fn, checkpoint_dir=checkpoint_dir,
                      checkpoint_every=checkpoint_every, resume=resume, num_devices=num_devices,
                      overrides=overrides)
