"""Proximal policy optimisation (Schulman et al. 2017), on device, single- and multi-agent.

    make_policy, params, metrics = ppo.train("pendulum", 1_000_000, num_envs=64)

Table of contents:
  PPOConfig            the options, one frozen dataclass (keyword overrides in `train`)
  make_envs            a name, a bare env or a batched env -> train + eval envs
  networks             the policy (`setup.policy_network`) and one value network per learned team
  TrainingState        everything that changes while training, one pytree
  loss                 clipped surrogate + value loss - entropy bonus (paper eq. 7, 9)
  training_iteration   ONE jitted function: a scan of (rollout, GAE, epochs of minibatches)
  train                `training.loop.train` with `build`: init, budget in updates, host loop

Multi-agent envs (obs, actions and rewards keyed by team, each with a leading
agent axis) learn one policy and one value network per team in the env's
action spec, shared by all of that team's agents: every agent is a sample with
its own reward stream and advantages, and the env's `done`/`truncation` apply
to all its agents. A single-agent env is handled as one team named `agent`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from gambol.agents import distributions
from gambol.agents.networks import ValueNetwork
from gambol.agents.normalization import init_stats, normalize, update_stats
from gambol.envs.base import Env, State
from gambol.training.acting import unroll
from gambol.training import loop, setup
from gambol.training.gae import gae
from gambol.training.gradients import gradient_update

SINGLE = setup.SINGLE    # the team name a single-agent env is handled under
KIND = "tanh_normal"


# -- PPOConfig -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO's options. One update collects `num_envs * unroll_length` agent steps,
    then runs `update_epochs` passes over them in `num_minibatches` shuffled minibatches."""
    num_envs: int = 64
    episode_length: int = 200           # agent steps per episode (names and bare envs)
    action_repeat: int = 1              # physics steps per agent step (names and bare envs)
    unroll_length: int = 16
    num_minibatches: int = 4
    update_epochs: int = 4
    learning_rate: float = 3e-4
    discount: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    value_coef: float = 0.5
    entropy_coef: float = 1e-3
    reward_scaling: float = 1.0
    normalize_observations: bool = True
    normalize_advantages: bool = True
    max_grad_norm: float = 0.5
    policy_hidden: tuple[int, ...] = (64, 64)
    value_hidden: tuple[int, ...] = (64, 64)
    num_evals: int = 5                  # evaluations, the untrained policy's included
    num_eval_envs: int = 16

    def __post_init__(self):
        setup.check_positive(self, ("num_envs", "episode_length", "action_repeat", "unroll_length",
                                    "num_minibatches", "update_epochs", "num_evals", "num_eval_envs"))
        samples = self.num_envs * self.unroll_length
        if samples % self.num_minibatches:
            raise ValueError(f"PPOConfig.num_minibatches: must divide num_envs * unroll_length = "
                             f"{samples}, got {self.num_minibatches}")
        for name in ("learning_rate", "clip_eps", "max_grad_norm", "reward_scaling"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name}: expected > 0, got {getattr(self, name)!r}")
        for name in ("discount", "gae_lambda"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"PPOConfig.{name}: expected a value in [0, 1], got {getattr(self, name)!r}")
        object.__setattr__(self, "policy_hidden", tuple(self.policy_hidden))
        object.__setattr__(self, "value_hidden", tuple(self.value_hidden))


def make_envs(environment, config: PPOConfig, env_kwargs: dict | None = None) -> tuple[Env, Env]:
    """(train_env, eval_env): `num_envs` auto-resetting members and `num_eval_envs`
    members that do not reset (see `setup.make_envs`)."""
    return setup.config_envs(environment, config, config.num_envs, True, env_kwargs)


def teams_of(env: Env) -> tuple[str, ...]:
    """The learned teams: the keys of a multi-agent env's action spec, or (SINGLE,)."""
    return tuple(env.action_spec) if env.is_multi_agent else (SINGLE,)


def _size(env: Env, attribute: str, team: str) -> int:
    size = getattr(env, attribute)
    return size[team] if env.is_multi_agent else size


# -- networks --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PPONetworks:
    """Per team: a policy network (obs -> tanh-normal parameters) and a value network."""
    teams: tuple[str, ...]
    multi_agent: bool
    policy: dict
    value: dict
    policy_network: setup.PolicyNetwork

    def per_team(self, tree) -> dict:
        """An env-shaped pytree (obs, reward, extras) as `{team: ...}`."""
        return tree if self.multi_agent else {SINGLE: tree}

    def make_policy(self) -> Callable:
        """`make_policy(params, deterministic=False)`, params as `policy_params` gives them."""
        return self.policy_network.make_policy


def make_networks(env: Env, config: PPOConfig,
                  policy: setup.PolicyNetwork | None = None) -> PPONetworks:
    """`policy` (default: `setup.policy_network` of `config`) and the value networks."""
    policy = policy or setup.policy_network(env, config.policy_hidden, config.normalize_observations)
    return PPONetworks(policy.teams, policy.multi_agent, policy.networks,
                       {t: ValueNetwork(config.value_hidden) for t in policy.teams}, policy)


# -- TrainingState ---------------------------------------------------------------------------

@struct.dataclass
class TrainingState:
    """Everything a training iteration changes. `params = {"policy": {team: ...},
    "value": {team: ...}}`; `obs_stats = {team: RunningStats}`."""
    params: Any
    opt_state: Any
    obs_stats: Any
    env_state: State
    key: jax.Array
    env_steps: jax.Array     # [] int32, physics steps taken by the training env


def policy_params(networks: PPONetworks, state: TrainingState):
    """What `make_policy` takes: `(stats, policy_params)`, or per team for multi-agent envs."""
    per_team = {t: (state.obs_stats[t], state.params["policy"][t]) for t in networks.teams}
    return per_team if networks.multi_agent else per_team[SINGLE]


def init_state(env: Env, networks: PPONetworks, optimizer, key) -> TrainingState:
    key, env_key, *net_keys = jax.random.split(key, 2 + 2 * len(networks.teams))
    params = {"policy": {}, "value": {}}
    stats = {}
    for i, t in enumerate(networks.teams):
        obs = jnp.zeros((1, _size(env, "observation_size", t)))
        params["policy"][t] = networks.policy[t].init(net_keys[2 * i], obs)
        params["value"][t] = networks.value[t].init(net_keys[2 * i + 1], obs)
        stats[t] = init_stats(obs.shape[-1])
    return TrainingState(params, optimizer.init(params), stats, env.reset(env_key), key,
                         jnp.zeros((), jnp.int32))


# -- loss --------------------------------------------------------------------------------------

@struct.dataclass
class TeamBatch:
    """One team's samples; leading axes `[samples]` (then `[agents]` for multi-agent)."""
    obs: jax.Array          # [..., obs_size], normalised
    raw_action: jax.Array   # [..., action_size] pre-tanh
    log_prob: jax.Array     # [...] of the acting policy
    advantage: jax.Array    # [...]
    target: jax.Array       # [...] value target


def make_loss(networks: PPONetworks, config: PPOConfig):
    """`loss(params, batch: {team: TeamBatch}, key) -> (loss, metrics)`, summed over teams."""
    def team_loss(policy_params, value_params, t, b: TeamBatch, key):
        dist_params = networks.policy[t].apply(policy_params, b.obs)
        dist = distributions.from_params(KIND, dist_params)
        log_ratio = distributions.log_prob_pre_tanh(dist, b.raw_action) - b.log_prob
        ratio = jnp.exp(log_ratio)
        advantage = b.advantage
        if config.normalize_advantages:
            advantage = (advantage - jnp.mean(advantage)) / (jnp.std(advantage) + 1e-8)
        # clipped surrogate, L^CLIP (paper eq. 7)
        clipped = jnp.clip(ratio, 1 - config.clip_eps, 1 + config.clip_eps)
        policy_loss = -jnp.mean(jnp.minimum(ratio * advantage, clipped * advantage))
        value = networks.value[t].apply(value_params, b.obs)
        value_loss = 0.5 * jnp.mean(jnp.square(value - b.target))
        entropy = jnp.mean(distributions.entropy(KIND, dist_params, key))
        loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy   # eq. 9
        return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                      "approx_kl": jnp.mean((ratio - 1) - log_ratio),
                      "clip_fraction": jnp.mean(jnp.abs(ratio - 1) > config.clip_eps)}

    def loss(params, batch, key):
        keys = jax.random.split(key, len(networks.teams))
        parts = [team_loss(params["policy"][t], params["value"][t], t, batch[t], k)
                 for t, k in zip(networks.teams, keys)]
        total = sum(p[0] for p in parts)
        metrics = jax.tree.map(lambda *xs: sum(xs), *[p[1] for p in parts])
        return total, metrics

    return loss


# -- training_iteration ------------------------------------------------------------------------

def make_optimizer(config: PPOConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.learning_rate))


def make_training_iteration(env: Env, networks: PPONetworks, config: PPOConfig, optimizer,
                            updates_per_iteration: int, action_repeat: int = 1):
    """`training_iteration(state) -> (state, metrics)`: `updates_per_iteration` times
    (rollout, observation statistics, GAE, epochs of shuffled minibatches), jitted."""
    make_policy = networks.make_policy()
    update = gradient_update(make_loss(networks, config), optimizer, has_aux=True)
    num_samples = config.num_envs * config.unroll_length

    def normalized(stats, obs):
        return normalize(stats, obs) if config.normalize_observations else obs

    def team_batch(t, params, stats, transitions) -> TeamBatch:
        obs = normalized(stats, networks.per_team(transitions.obs)[t])            # [T, B, ...]
        next_obs = normalized(stats, networks.per_team(transitions.next_obs)[t])
        value_fn = lambda o: networks.value[t].apply(params["value"][t], o)      # noqa: E731
        reward = config.reward_scaling * networks.per_team(transitions.reward)[t]
        advantage, target = gae(reward, value_fn(obs), value_fn(next_obs), transitions.discount,
                                transitions.truncation, config.gae_lambda, config.discount)
        extras = networks.per_team(transitions.extras)[t]
        return TeamBatch(obs, extras["raw_action"], extras["log_prob"], advantage, target)

    def minibatch_step(carry, minibatch):
        params, opt_state, key = carry
        key, loss_key = jax.random.split(key)
        (_, metrics), params, opt_state = update(params, opt_state, minibatch, loss_key)
        return (params, opt_state, key), metrics

    def epoch(carry, _):
        params, opt_state, key, batch = carry
        key, perm_key, mb_key = jax.random.split(key, 3)
        order = jax.random.permutation(perm_key, num_samples)
        shuffled = jax.tree.map(
            lambda x: jnp.reshape(x[order], (config.num_minibatches, -1) + x.shape[1:]), batch)
        (params, opt_state, _), metrics = jax.lax.scan(minibatch_step, (params, opt_state, mb_key), shuffled)
        return (params, opt_state, key, batch), metrics

    def update_step(state: TrainingState, _):
        key, rollout_key, epoch_key = jax.random.split(state.key, 3)
        # rollout with the current stochastic policy
        policy = make_policy(policy_params(networks, state))
        env_state, transitions = unroll(env, state.env_state, policy, rollout_key, config.unroll_length)
        # observation statistics, from this rollout
        stats = {t: update_stats(state.obs_stats[t], networks.per_team(transitions.obs)[t],
                                 frozen=not config.normalize_observations)
                 for t in networks.teams}
        # advantages and value targets, then flatten time and batch into samples
        batch = {t: team_batch(t, state.params, stats[t], transitions) for t in networks.teams}
        batch = jax.tree.map(lambda x: jnp.reshape(x, (num_samples,) + x.shape[2:]), batch)
        # epochs of shuffled minibatches
        (params, opt_state, _, _), metrics = jax.lax.scan(
            epoch, (state.params, state.opt_state, epoch_key, batch), None, length=config.update_epochs)
        metrics = jax.tree.map(jnp.mean, metrics)
        rewards = networks.per_team(transitions.reward)
        for t in networks.teams:
            suffix = "" if t == SINGLE else f"/{t}"
            metrics[f"mean_reward{suffix}"] = jnp.mean(rewards[t])
        steps = state.env_steps + num_samples * action_repeat
        return TrainingState(params, opt_state, stats, env_state, key, steps), metrics

    @jax.jit
    def training_iteration(state: TrainingState):
        state, metrics = jax.lax.scan(update_step, state, None, length=updates_per_iteration)
        return state, {f"training/{k}": jnp.mean(v) for k, v in metrics.items()}

    return training_iteration


# -- train -------------------------------------------------------------------------------------

def build(env: Env, policy: setup.PolicyNetwork, config: PPOConfig, num_timesteps: int,
          mesh) -> loop.Training:
    """PPO for `training.loop`: a unit is one update of `num_envs * unroll_length`
    agent steps; `num_evals - 1` iterations (at least 1)."""
    networks = make_networks(env, config, policy)
    optimizer = make_optimizer(config)
    steps_per_update = config.num_envs * config.unroll_length * config.action_repeat

    def init(key):
        key, eval_key = jax.random.split(key)
        return jax.jit(lambda key: init_state(env, networks, optimizer, key))(key), eval_key

    return loop.Training(
        init=init,
        iteration=lambda updates: make_training_iteration(env, networks, config, optimizer, updates,
                                                          config.action_repeat),
        units=lambda state: int(state.env_steps) // steps_per_update,
        steps_per_unit=steps_per_update, params_of=lambda state: policy_params(networks, state),
        max_iterations=max(config.num_evals - 1, 1), unit_name="updates_per_iteration")


TRAINER = loop.Trainer("ppo", PPOConfig, build, hidden_field="policy_hidden", make_envs=make_envs)


def policy_spec(environment, config: PPOConfig | None = None, env_kwargs: dict | None = None):
    """`(make_policy, abstract params)` of the policy `train` returns for these
    settings: the params as `jax.ShapeDtypeStruct`s, to restore a saved policy into."""
    return loop.policy_spec(TRAINER, environment, config, env_kwargs)


def train(environment, num_timesteps: int, *, config: PPOConfig | None = None,
          env_kwargs: dict | None = None, seed: int = 0, progress_fn: Callable | None = None,
          checkpoint_dir: str | None = None, checkpoint_every: int = 1, resume: bool = False,
          num_devices: int | None = None, **overrides):
    """Train PPO for at least `num_timesteps` env steps.

    Args:
      environment: a registered env name (built with `env_kwargs`), a bare gambol
        Env (wrapped here), or a batched Env of `num_envs` members (see `setup.make_envs`).
      num_timesteps: physics steps of the training env, in total.
      config: a `PPOConfig`; keyword `overrides` replace its fields.
      progress_fn: `progress_fn(num_steps, metrics)` after each evaluation
        (the first at step 0, for the untrained policy).
      checkpoint_dir, checkpoint_every, resume, num_devices: see `loop.RunOptions`;
        `num_envs` is split over the devices. With `resume`, a run interrupted
        or finished with fewer steps continues to `num_timesteps` in total and
        ends with the parameters of an uninterrupted run (see `training.loop`).

    Returns:
      (make_policy, params, metrics): `make_policy(params, deterministic)` gives the
      policy; metrics holds the last evaluation (`eval/episode_reward`, per team
      for multi-agent envs) and the last iteration's training losses.
    """
    return loop.train(TRAINER, environment, num_timesteps, config=config, env_kwargs=env_kwargs,
                      seed=seed, progress_fn=progress_fn, checkpoint_dir=checkpoint_dir,
                      checkpoint_every=checkpoint_every, resume=resume, num_devices=num_devices,
                      overrides=overrides)
