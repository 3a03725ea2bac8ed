"""Evolution strategies (OpenAI-ES): a search gradient from a population of
perturbed policies, each scored by whole episodes run in parallel.

Salimans et al. 2017, "Evolution Strategies as a Scalable Alternative to
Reinforcement Learning", Algorithm 2. With the flattened policy parameters
`theta: [d]`, antithetic noise `eps_i ~ N(0, I)` paired as `(+eps_i, -eps_i)`
and the fitness `F_i` of `theta + sigma eps_i` (mean episode return),

    grad E[F(theta + sigma eps)] ~= 1 / (n sigma) sum_i f_i eps_i,

where `f_i` are the fitnesses turned into centred ranks in [-0.5, 0.5]
(invariant to the scale of the reward, robust to outliers). Adam ascends the
estimate; `weight_decay` adds `l2 * theta` to the descent direction.

Every member of the population runs `episodes_per_member` episodes on its own
slice of a batched env (`vmap` over members of `acting.episode_return`) with
the deterministic policy; an antithetic pair shares its episodes' start states
(common random numbers), so the pair's difference is due to the noise alone.

Observation normalisation is off by default (`normalize_observations`); when
on, the running statistics merge every observation the population acted on
in a generation, and the next generation normalises with them.

    make_policy, params, metrics = es.train("pendulum", 2_000_000, population_size=128)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from gambol.envs.base import Env
from gambol.training import acting, loop, parallel, setup


@dataclasses.dataclass(frozen=True)
class ESConfig:
    """Options of `train` (each can also be passed to `train` as a keyword).

    population_size: perturbed policies per generation (even: antithetic pairs).
    episodes_per_member: episodes each member runs to score its fitness.
    episode_length: agent steps per episode.
    noise_std: sigma, the scale of the parameter perturbations.
    learning_rate: Adam step size.
    weight_decay: L2 coefficient added to the descent direction (0: none).
    rank_shaping: centred-rank fitness (else fitness standardised by its std).
    hidden: hidden layer sizes of the policy network.
    normalize_observations: running observation statistics in the policy.
    num_evals: evaluations over training (one jitted iteration before each).
    num_eval_envs: episodes per evaluation.
    """
    population_size: int = 64
    episodes_per_member: int = 1
    episode_length: int = 200
    noise_std: float = 0.05
    learning_rate: float = 0.01
    weight_decay: float = 0.0
    rank_shaping: bool = True
    hidden: tuple[int, ...] = (32, 32)
    normalize_observations: bool = False
    num_evals: int = 10
    num_eval_envs: int = 16

    def __post_init__(self):
        setup.check_positive(self, ("population_size", "episodes_per_member", "episode_length",
                                     "num_evals", "num_eval_envs"), ("noise_std",))
        if self.population_size % 2:
            raise ValueError(f"ESConfig.population_size: expected an even number (antithetic "
                             f"pairs), got {self.population_size}")
        object.__setattr__(self, "hidden", tuple(self.hidden))


@struct.dataclass
class TrainingState:
    """Everything ES carries from one generation to the next."""
    network_params: Any     # the policy network's flax params (the population's mean)
    optimizer_state: Any
    obs_stats: Any          # RunningStats, or {team: RunningStats}
    key: jax.Array
    generation: jax.Array   # [] int32, generations done


# -- the search gradient ----------------------------------------------------------------

def centered_ranks(x: jax.Array) -> jax.Array:
    """Ranks of `x: [n]` mapped linearly onto [-0.5, 0.5] (ties broken by order)."""
    ranks = jnp.argsort(jnp.argsort(x)).astype(jnp.float32)
    return ranks / (x.shape[0] - 1) - 0.5


def estimate_gradient(fitness_fn: Callable, theta: jax.Array, key, population_size: int,
                      noise_std: float, rank_shaping: bool = True, has_aux: bool = False):
    """Antithetic search-gradient estimate of `fitness_fn` at `theta: [d]`.

    fitness_fn: `[population_size, d] -> [population_size]` (or `(fitness, aux)`
      with `has_aux`); members `i` and `i + population_size / 2` are mirror images.
    Returns `(grad: [d], fitness: [population_size])`, and `aux` with `has_aux`.
    """
    half = population_size // 2
    eps = jax.random.normal(key, (half, theta.shape[0]), theta.dtype)
    noise = jnp.concatenate([eps, -eps])                       # [n, d]
    out = fitness_fn(theta + noise_std * noise)
    fitness, aux = out if has_aux else (out, None)
    if rank_shaping:
        weights = centered_ranks(fitness)
    else:
        weights = (fitness - jnp.mean(fitness)) / (jnp.std(fitness) + 1e-8)
    grad = weights.astype(theta.dtype) @ noise / (population_size * noise_std)
    return (grad, fitness, aux) if has_aux else (grad, fitness)


def _member_fitness(episode_returns) -> jax.Array:
    """Mean over episodes of the return summed over agents and teams: `[]`."""
    per_episode = sum(jnp.sum(jnp.reshape(r, (r.shape[0], -1)), axis=1)
                      for r in jax.tree.leaves(episode_returns))
    return jnp.mean(per_episode)


# -- training -------------------------------------------------------------------------------

def make_training_iteration(env: Env, make_policy, join, unravel, config: ESConfig,
                            generations: int,
                            population_sharding: jax.sharding.Sharding | None = None):
    """A jitted `training_iteration(state) -> (state, metrics)`: `generations`
    ES generations in a `lax.scan`. `env` is batched with `episodes_per_member`.
    With `population_sharding` the members' episodes are split over its devices."""
    optimizer = _optimizer(config)
    half = config.population_size // 2

    def population_fitness(obs_stats, key, thetas):
        if population_sharding is not None:
            thetas = jax.lax.with_sharding_constraint(thetas, population_sharding)
        def one(theta, key):
            policy = make_policy(join(obs_stats, unravel(theta)), deterministic=True)
            ret, obs = acting.episode_return(env, policy, key, config.episode_length, return_obs=True)
            return _member_fitness(ret), obs

        keys = jax.random.split(key, half)
        return jax.vmap(one)(thetas, jnp.concatenate([keys, keys]))

    def generation(state: TrainingState, _):
        key, member_keys = jax.random.split(state.key)
        noise_key, episode_key = jax.random.split(member_keys)
        theta, _ = ravel_pytree(state.network_params)
        fitness_fn = functools.partial(population_fitness, state.obs_stats, episode_key)
        grad, fitness, observed = estimate_gradient(
            fitness_fn, theta, noise_key, config.population_size, config.noise_std,
            config.rank_shaping, has_aux=True)
        grad = unravel(-grad)                                # optax descends: ascend F
        updates, opt_state = optimizer.update(grad, state.optimizer_state, state.network_params)
        obs_stats = acting.update_obs_stats(state.obs_stats, observed,
                                            not config.normalize_observations)
        new = TrainingState(optax.apply_updates(state.network_params, updates), opt_state,
                            obs_stats, key, state.generation + 1)
        metrics = {"training/fitness_mean": jnp.mean(fitness),
                   "training/fitness_max": jnp.max(fitness),
                   "training/fitness_std": jnp.std(fitness)}
        return new, metrics

    @jax.jit
    def training_iteration(state: TrainingState):
        state, metrics = jax.lax.scan(generation, state, None, length=generations)
        return state, jax.tree.map(lambda m: m[-1], metrics)

    return training_iteration


def _optimizer(config: ESConfig) -> optax.GradientTransformation:
    adam = optax.adam(config.learning_rate)
    if config.weight_decay:
        return optax.chain(optax.add_decayed_weights(config.weight_decay), adam)
    return adam


def build(env: Env, policy: setup.PolicyNetwork, config: ESConfig, num_timesteps: int,
          mesh) -> loop.Training:
    """ES for `training.loop`: a unit is one generation; `num_evals` iterations;
    the members' episodes are split over `mesh`'s devices."""
    abstract = jax.eval_shape(policy.init, jax.random.PRNGKey(0))[1]
    _, unravel = ravel_pytree(jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), abstract))
    steps_per_generation = (config.population_size * config.episodes_per_member
                            * config.episode_length)

    def init(key):
        key, init_key, eval_key = jax.random.split(key, 3)
        obs_stats, network_params = policy.init(init_key)
        return TrainingState(network_params, _optimizer(config).init(network_params), obs_stats,
                             key, jnp.zeros((), jnp.int32)), eval_key

    return loop.Training(
        init=init,
        iteration=lambda generations: make_training_iteration(
            env, policy.make_policy, policy.join, unravel, config, generations,
            population_sharding=parallel.batch_sharded(mesh)),
        units=lambda state: int(state.generation), steps_per_unit=steps_per_generation,
        params_of=lambda state: policy.join(state.obs_stats, state.network_params),
        max_iterations=config.num_evals, unit_name="generations")


TRAINER = loop.Trainer("es", ESConfig, build, batch_field="episodes_per_member",
                       mesh_field="population_size", auto_reset=False)


def policy_spec(environment: str | Env, config: ESConfig | None = None,
                env_kwargs: dict | None = None):
    """`(make_policy, abstract params)` of the policy `train` returns for these
    settings: the params as `jax.ShapeDtypeStruct`s, to restore a saved policy into."""
    return loop.policy_spec(TRAINER, environment, config, env_kwargs)


def train(environment: str | Env, num_timesteps: int, *, config: ESConfig | None = None,
          env_kwargs: dict | None = None, seed: int = 0,
          progress_fn: Callable[[int, dict], None] | None = None, checkpoint_dir: str | None = None,
          checkpoint_every: int = 1, resume: bool = False, num_devices: int | None = None,
          **overrides):
    """Train a deterministic policy with OpenAI-ES.

    `environment` is a registered env name (built with `env_kwargs`) or a gambol
    Env (see `setup.make_envs`); `num_timesteps` the env steps to run at least
    (population_size x episodes_per_member x episode_length per generation);
    keywords in `overrides` replace fields of `config` (an `ESConfig`);
    `progress_fn(num_steps, metrics)` is called after the initial evaluation and
    after every iteration; `checkpoint_dir`, `checkpoint_every`, `resume` and
    `num_devices` (splitting the population) are `loop.RunOptions` (a resumed run
    continues to `num_timesteps` in total). Returns `(make_policy, params, metrics)`:
    `make_policy(params, deterministic=True)` is the trained policy, `metrics`
    the last ones reported.
    """
    return loop.train(TRAINER, environment, num_timesteps, config=config, env_kwargs=env_kwargs,
                      seed=seed, progress_fn=progress_fn, checkpoint_dir=checkpoint_dir,
                      checkpoint_every=checkpoint_every, resume=resume, num_devices=num_devices,
                      overrides=overrides)
