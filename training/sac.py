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
  5. train:     builds the envs and the state, jits prefill and the training iteration,
                then loops on the host: iteration, evaluation of the deterministic policy
                on a separate non-resetting batched env, `progress_fn(env_steps, metrics)`.

Every parameter update goes through `training.gradients.gradient_update` and
the observation statistics through `update_stats`, both given `axis_name`
(None here), so a device-parallel wrapper only has to name the axis.

Checkpoints: `TrainingState` is the whole run, so saving it resumes exactly.
The replay buffer is part of it: at the sizes gambol's small envs use (obs of
a few numbers, 10^5-10^6 transitions: a few to tens of MB) including it is
cheap and makes a resumed run identical to an uninterrupted one. For large
observations and buffers, a checkpoint may drop `buffer` and refill it with
the prefill step on resume, at the cost of a short warm-up.
"""

from __future__ import annotations

import dataclasses
import math
import time
from functools import partial
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from gambol import envs
from gambol.agents import distributions
from gambol.agents.networks import QNetwork, policy_network
from gambol.agents.normalization import RunningStats, init_stats, normalize, update_stats
from gambol.agents.policy import make_policy_factory
from gambol.envs.base import Env, State, Wrapper, like
from gambol.envs.wrappers import AutoResetWrapper, EpisodeWrapper, VmapWrapper
from gambol.training import replay_buffer
from gambol.training.acting import Transition, actor_step, make_evaluator
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
    max_replay_size: replay capacity in transitions (None: num_timesteps, keeping all).
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
        for name in ("num_envs", "episode_length", "num_evals", "num_eval_envs", "batch_size",
                     "grad_updates_per_step", "min_replay_size"):
            _check_positive_int(name, getattr(self, name))
        if self.max_replay_size is not None:
            _check_positive_int("max_replay_size", self.max_replay_size)
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


def _check_positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"SACConfig.{name}: expected a positive int, got {value!r}")


def make_config(config: SACConfig, **overrides) -> SACConfig:
    """`config` with `overrides` replaced; an unknown name raises TypeError."""
    valid = [f.name for f in dataclasses.fields(SACConfig)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TypeError(f"sac.train: unknown keyword(s) {unknown}; valid keywords are {valid}")
    return dataclasses.replace(config, **overrides)


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


def make_parts(env: Env, config: SACConfig) -> Parts:
    """The networks and optimizers of `config` for the batched training `env`."""
    action_size = env.action_size
    policy_net = policy_network(distributions.param_size(KIND, action_size), config.policy_hidden)
    return Parts(
        env=env, config=config, action_size=action_size, policy_net=policy_net,
        q_net=QNetwork(config.q_hidden, n_critics=2),
        policy_optimizer=optax.adam(config.learning_rate),
        q_optimizer=optax.adam(config.learning_rate),
        alpha_optimizer=optax.adam(config.alpha_learning_rate),
        make_policy=make_policy_factory(policy_net, KIND, config.normalize_observations))


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


def make_sgd_step(parts: Parts, axis_name: str | None = None):
    """`sgd_step(state, key) -> (state, metrics)`: one batch from the buffer,
    then the alpha, critic and actor updates and the target Polyak step."""
    update_alpha = gradient_update(partial(alpha_loss, parts), parts.alpha_optimizer, axis_name)
    update_critic = gradient_update(partial(critic_loss, parts), parts.q_optimizer, axis_name)
    update_actor = gradient_update(partial(actor_loss, parts), parts.policy_optimizer, axis_name,
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

def make_env_step(parts: Parts, policy_fn: Callable, axis_name: str | None = None):
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
            obs_stats=update_stats(state.obs_stats, transition.obs, frozen, axis_name),
            env_steps=state.env_steps + parts.config.num_envs)
        return state, jnp.mean(transition.reward)

    return env_step


def _random_policy(parts: Parts):
    shape = (parts.config.num_envs, parts.action_size)

    def policy(obs, key):
        return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0), {}

    return lambda state: policy


def make_prefill(parts: Parts, num_steps: int, axis_name: str | None = None):
    """`prefill(state) -> state`: `num_steps` env steps of uniform random actions
    into the buffer (one scan)."""
    env_step = make_env_step(parts, _random_policy(parts), axis_name)

    def prefill(state: TrainingState) -> TrainingState:
        key, sub = jax.random.split(state.key)
        state, _ = jax.lax.scan(env_step, state.replace(key=key), jax.random.split(sub, num_steps))
        return state

    return prefill


def make_training_iteration(parts: Parts, num_steps: int, axis_name: str | None = None):
    """`training_iteration(state) -> (state, metrics)`: a scan of `num_steps` x
    [one env step with the stochastic policy, `grad_updates_per_step` SGD steps];
    metrics are means over the iteration."""
    policy_fn = lambda state: parts.make_policy((state.obs_stats, state.policy_params))  # noqa: E731
    env_step = make_env_step(parts, policy_fn, axis_name)
    sgd_step = make_sgd_step(parts, axis_name)

    def one_env_step(state, key):
        k_env, k_sgd = jax.random.split(key)
        state, reward = env_step(state, k_env)
        state, metrics = jax.lax.scan(
            sgd_step, state, jax.random.split(k_sgd, parts.config.grad_updates_per_step))
        return state, {**metrics, "reward": reward}

    def training_iteration(state: TrainingState):
        key, sub = jax.random.split(state.key)
        state, metrics = jax.lax.scan(one_env_step, state.replace(key=key),
                                      jax.random.split(sub, num_steps))
        return state, {f"training/{k}": jnp.mean(v) for k, v in metrics.items()}

    return training_iteration


# -- 5. train -------------------------------------------------------------------------

def _layers(env: Env):
    while True:
        yield env
        if not isinstance(env, Wrapper):
            return
        env = env.env


def _make_envs(environment, config: SACConfig) -> tuple[Env, Env]:
    """(training env: batched, auto-resetting; evaluation env: batched, not resetting)."""
    if isinstance(environment, str):
        train_env = envs.create(environment, episode_length=config.episode_length,
                                batch_size=config.num_envs)
        eval_env = envs.create(environment, episode_length=config.episode_length,
                               batch_size=config.num_eval_envs, auto_reset=False)
    elif isinstance(environment, Env):
        base = environment.env if isinstance(environment, AutoResetWrapper) else environment
        if any(isinstance(layer, AutoResetWrapper) for layer in _layers(base)):
            raise ValueError("sac.train: environment: auto-reset must be the outermost wrapper, "
                             f"got {environment!r}")
        if base.batch_size is None:
            if not any(isinstance(layer, EpisodeWrapper) for layer in _layers(base)):
                base = EpisodeWrapper(base, config.episode_length)
            train_env = AutoResetWrapper(VmapWrapper(base, config.num_envs))
            eval_env = VmapWrapper(base, config.num_eval_envs)
        elif base.batch_size != config.num_envs:
            raise ValueError(f"sac.train: environment: a batched env must have batch_size == "
                             f"num_envs ({config.num_envs}), got {base.batch_size}")
        else:
            train_env, eval_env = AutoResetWrapper(base), base
    else:
        raise TypeError(f"sac.train: environment: expected a gambol Env or a registered name, "
                        f"got {type(environment).__name__}")
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


def train(environment, num_timesteps: int, *, config: SACConfig = SACConfig(), seed: int = 0,
          progress_fn: Callable[[int, dict], None] | None = None, **overrides):
    """Train SAC on `environment` (a registered name or a single-agent Env) for
    about `num_timesteps` env transitions (the random prefill included).

    A name is built with `envs.create` (num_envs members with auto-reset for
    training, num_eval_envs without for evaluation). An unbatched Env is wrapped
    the same way, with an `EpisodeWrapper(episode_length)` if it has none; a
    batched Env must have num_envs members and serves both (auto-reset added
    for training, removed for evaluation). Actions are in [-1, 1].

    Keyword overrides replace fields of `config` (see `SACConfig`).
    `progress_fn(env_steps, metrics)` is called on the host after the first
    evaluation and after each training iteration.

    Returns `(make_policy, params, metrics)`: `make_policy(params,
    deterministic)` builds the policy, `params = (obs_stats, policy_params)`,
    and `metrics` are the last iteration's and evaluation's figures.
    """
    config = make_config(config, **overrides)
    train_env, eval_env = _make_envs(environment, config)
    prefill_steps = -(-config.min_replay_size // config.num_envs)
    train_steps = num_timesteps - prefill_steps * config.num_envs
    if train_steps < config.num_envs:
        raise ValueError(f"sac.train: num_timesteps: expected more than the "
                         f"{prefill_steps * config.num_envs} prefill transitions "
                         f"(min_replay_size rounded up to num_envs) plus one env step, "
                         f"got {num_timesteps}")
    iterations = max(config.num_evals - 1, 1)
    steps_per_iteration = -(-train_steps // (config.num_envs * iterations))
    capacity = config.max_replay_size or num_timesteps
    if capacity < max(config.min_replay_size, config.num_envs):
        raise ValueError(f"sac.train: max_replay_size: expected at least min_replay_size "
                         f"({config.min_replay_size}) and num_envs ({config.num_envs}), "
                         f"got {capacity}")

    parts = make_parts(train_env, config)
    key, eval_key = jax.random.split(jax.random.PRNGKey(seed))
    state = init_state(parts, capacity, key)
    prefill = jax.jit(make_prefill(parts, prefill_steps))
    training_iteration = jax.jit(make_training_iteration(parts, steps_per_iteration))
    evaluate = make_evaluator(eval_env, parts.make_policy, config.episode_length)

    def evaluation(state, index):
        params = (state.obs_stats, state.policy_params)
        return {k: float(v) for k, v in evaluate(params, jax.random.fold_in(eval_key, index)).items()}

    state = prefill(state)
    metrics = evaluation(state, 0)
    if progress_fn is not None:
        progress_fn(int(state.env_steps), metrics)
    train_time = 0.0
    for i in range(iterations):
        start = time.perf_counter()
        state, train_metrics = training_iteration(state)
        train_metrics = {k: float(v) for k, v in jax.device_get(train_metrics).items()}
        train_time += time.perf_counter() - start
        metrics = {**train_metrics, **evaluation(state, i + 1),
                   "training/env_steps": int(state.env_steps),
                   "training/grad_steps": int(state.grad_steps),
                   # time in training iterations (the first one compiles), without evaluations
                   "training/walltime": train_time,
                   "training/sps": (i + 1) * steps_per_iteration * config.num_envs / train_time}
        if progress_fn is not None:
            progress_fn(int(state.env_steps), metrics)
    return parts.make_policy, (state.obs_stats, state.policy_params), metrics
