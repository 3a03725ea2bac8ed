"""Acting in an env with a policy, inside jit: one step, an unroll, an evaluation;
and what every trainer sets itself up with: its config, batched env, policy
network and the host loop around its jitted training iteration.

A `Transition` holds what every trainer learns from. With an auto-resetting
env, `next_obs` is the observation the step reached (`info["final_obs"]`),
not the first observation of the next episode, so value targets bootstrap
from the right state; `truncation` says the episode ended by the time limit
(bootstrap) rather than by termination (do not).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import struct

from gambol import agents
from gambol.agents import distributions
from gambol.envs import registry
from gambol.envs.base import Env, State, Wrapper
from gambol.envs.wrappers import AutoResetWrapper, EpisodeWrapper, VmapWrapper


@struct.dataclass
class Transition:
    obs: Any          # [..., obs] or {team: [..., n, obs]}
    action: Any
    reward: Any       # [...] or {team: [..., n]}
    discount: Any     # [...] 1 - done
    truncation: Any   # [...] 1 when the time limit ended the episode
    next_obs: Any
    extras: Any       # the policy's extras (log_prob, raw_action, ...)


def actor_step(env: Env, state: State, policy, key) -> tuple[State, Transition]:
    """One env step with `policy(obs, key) -> (action, extras)`."""
    action, extras = policy(state.obs, key)
    nxt = env.step(state, action)
    done = nxt.done.astype(jnp.float32)
    truncation = nxt.info.get("truncation", jnp.zeros_like(done)).astype(jnp.float32)
    next_obs = nxt.info.get("final_obs", nxt.obs)
    return nxt, Transition(state.obs, action, nxt.reward, 1.0 - done, truncation, next_obs, extras)


def unroll(env: Env, state: State, policy, key, length: int) -> tuple[State, Transition]:
    """`length` steps; the transitions stacked on a new leading time axis."""
    def body(state, key):
        return actor_step(env, state, policy, key)

    return jax.lax.scan(body, state, jax.random.split(key, length))


def episode_return(env: Env, policy, key, episode_length: int, return_obs: bool = False):
    """Undiscounted return of each episode of a batched env run from reset for
    `episode_length` steps. A finished episode absorbs with zero reward, so the
    sum is exact. Returns `[batch]`, or `{team: [batch, n_agents]}`; with
    `return_obs` also the observations acted on, `[episode_length, batch, ...]`
    (an absorbed episode repeats its last observation)."""
    reset_key, key = jax.random.split(key)
    state = env.reset(reset_key)

    def body(carry, key):
        state, total = carry
        action, _ = policy(state.obs, key)
        nxt = env.step(state, action)
        return (nxt, jax.tree.map(jnp.add, total, nxt.reward)), state.obs if return_obs else None

    zero = jax.tree.map(jnp.zeros_like, state.reward)
    (_, total), obs = jax.lax.scan(body, (state, zero), jax.random.split(key, episode_length))
    return (total, obs) if return_obs else total


def make_evaluator(env: Env, make_policy, episode_length: int):
    """A jitted `evaluate(params, key) -> {"eval/episode_reward": mean}` on a
    batched, non-resetting `env` with the deterministic policy (per team for
    multi-agent envs: `eval/episode_reward/<team>`, summed over agents and
    averaged over episodes)."""
    @jax.jit
    def evaluate(params, key):
        total = episode_return(env, make_policy(params, deterministic=True), key, episode_length)
        if isinstance(total, dict):
            return {f"eval/episode_reward/{t}": jnp.mean(jnp.sum(r, axis=-1))
                    for t, r in total.items()}
        return {"eval/episode_reward": jnp.mean(total)}

    return evaluate


# -- setting a trainer up: config, env, policy ------------------------------------------

def configure(config_cls, config, overrides: dict):
    """`config` (default `config_cls()`) with `overrides` replaced; an unknown
    keyword raises a TypeError listing the valid ones."""
    valid = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TypeError(f"{config_cls.__name__}: unknown keyword(s) {unknown}; valid: {valid}")
    if config is None:
        config = config_cls()
    elif not isinstance(config, config_cls):
        raise TypeError(f"config: expected a {config_cls.__name__}, got {type(config).__name__}")
    return dataclasses.replace(config, **overrides)


def check_positive(config, ints: Sequence[str] = (), floats: Sequence[str] = ()) -> None:
    """Raise a ValueError naming the first field of `config` in `ints` that is
    not a positive int, or in `floats` that is not > 0."""
    name = type(config).__name__
    for field in ints:
        value = getattr(config, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}.{field}: expected a positive int, got {value!r}")
    for field in floats:
        value = getattr(config, field)
        if not value > 0:
            raise ValueError(f"{name}.{field}: expected > 0, got {value!r}")


def _layers(env: Env) -> list[Env]:
    """`env` and every env it wraps, outermost first."""
    layers = [env]
    while isinstance(layers[-1], Wrapper):
        layers.append(layers[-1].env)
    return layers


def make_env(environment: str | Env, *, episode_length: int, batch_size: int,
             auto_reset: bool) -> Env:
    """The batched env a trainer steps. `environment` is a registered name (built
    by `gambol.envs.create`) or an unbatched Env, which gets an `EpisodeWrapper`
    (unless it has one), a `VmapWrapper` and, with `auto_reset`, an
    `AutoResetWrapper`."""
    if isinstance(environment, str):
        return registry.create(environment, episode_length=episode_length,
                               batch_size=batch_size, auto_reset=auto_reset)
    if not isinstance(environment, Env):
        raise TypeError(f"environment: expected a registered name or a gambol Env, "
                        f"got {type(environment).__name__}")
    if environment.batch_size is not None:
        raise ValueError(f"environment: expected an unbatched env (the trainer batches it), "
                         f"got one with batch_size={environment.batch_size}")
    layers = _layers(environment)
    if any(isinstance(e, AutoResetWrapper) for e in layers):
        raise ValueError("environment: pass the env without AutoResetWrapper; "
                         "the trainer adds it where it needs one")
    env = environment
    lengths = [e.episode_length for e in layers if isinstance(e, EpisodeWrapper)]
    if not lengths:
        env = EpisodeWrapper(env, episode_length)
    elif lengths[0] != episode_length:
        raise ValueError(f"environment: its EpisodeWrapper has episode_length={lengths[0]}, "
                         f"but the trainer's episode_length is {episode_length}")
    env = VmapWrapper(env, batch_size)
    return AutoResetWrapper(env) if auto_reset else env


def make_policy_network(env: Env, hidden: Sequence[int], kind: str = "tanh_normal",
                        normalize_observations: bool = False):
    """`(make_policy, init_fn, join)` for a policy network with `hidden` layers on `env`.

    `init_fn(key) -> (obs_stats, network_params)`; `join(obs_stats,
    network_params)` is what `make_policy` takes. A multi-agent env gets one
    network per team, shared over the team's agent axis (`agents.team_policy`);
    then both parts are dicts keyed by team.
    """
    def one(obs_size: int, action_size: int):
        network = agents.policy_network(distributions.param_size(kind, action_size), hidden)
        make_policy = agents.make_policy_factory(network, kind, normalize_observations)
        init = lambda key: (agents.init_stats(obs_size),  # noqa: E731
                            network.init(key, jnp.zeros((obs_size,))))
        return make_policy, init

    if not env.is_multi_agent:
        make_policy, init = one(env.observation_size, env.action_size)
        return make_policy, init, lambda stats, net: (stats, net)
    teams = tuple(env.agents)
    parts = {t: one(env.observation_size[t], env.action_size[t]) for t in teams}

    def init_fn(key):
        inits = {t: parts[t][1](k) for t, k in zip(teams, jax.random.split(key, len(teams)))}
        return {t: inits[t][0] for t in teams}, {t: inits[t][1] for t in teams}

    def join(stats, net):
        return {t: (stats[t], net[t]) for t in teams}

    return agents.team_policy({t: parts[t][0] for t in teams}), init_fn, join


def update_obs_stats(stats, obs, frozen: bool, axis_name: str | None = None):
    """`agents.update_stats` for one `RunningStats` or a dict of them keyed by team."""
    return jax.tree.map(lambda s, o: agents.update_stats(s, o, frozen, axis_name), stats, obs,
                        is_leaf=lambda x: isinstance(x, agents.RunningStats))


def device_key(key, axis_name: str | None):
    """`key` made distinct per device of the named axis (itself when `axis_name`
    is None), so replicated training states draw different noise on each device."""
    return key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))


def make_trainer_parts(environment: str | Env, config, batch_size: int, auto_reset: bool):
    """`(env, evaluate, (make_policy, init_fn, join))` for a trainer whose `config`
    has `episode_length`, `num_eval_envs`, `hidden` and `normalize_observations`:
    the batched training env, a jitted evaluator on `num_eval_envs` fresh
    episodes, and the policy network (see `make_policy_network`)."""
    env = make_env(environment, episode_length=config.episode_length, batch_size=batch_size,
                   auto_reset=auto_reset)
    eval_env = make_env(environment, episode_length=config.episode_length,
                        batch_size=config.num_eval_envs, auto_reset=False)
    policy_parts = make_policy_network(env, config.hidden,
                                       normalize_observations=config.normalize_observations)
    return env, make_evaluator(eval_env, policy_parts[0], config.episode_length), policy_parts


def split_budget(num_timesteps: int, steps_per_update: int, num_evals: int) -> tuple[int, int]:
    """`(iterations, updates_per_iteration)`: at least `num_timesteps` env steps
    in at most `num_evals` jitted iterations of equal length."""
    total = max(1, math.ceil(num_timesteps / steps_per_update))
    iterations = min(num_evals, total)
    return iterations, math.ceil(total / iterations)


def training_loop(training_iteration: Callable, state, evaluate: Callable, params_of: Callable,
                  iterations: int, steps_per_iteration: int, key,
                  progress_fn: Callable[[int, dict], None] | None = None):
    """The host side of a trainer: an evaluation, then `iterations` times one
    jitted `training_iteration(state) -> (state, metrics)` followed by an
    evaluation of `params_of(state)`; each is reported to
    `progress_fn(num_steps, metrics)`. Returns `(state, last metrics)`.
    `training/sps` counts the first iteration's compilation too."""
    # a weakly typed leaf (a Python float in a reset) would retrace the jit after one iteration
    state = jax.tree.map(lambda x: jnp.asarray(x, x.dtype) if getattr(x, "weak_type", False) else x,
                         state)
    key, eval_key = jax.random.split(key)
    metrics = {k: float(v) for k, v in evaluate(params_of(state), eval_key).items()}
    if progress_fn is not None:
        progress_fn(0, metrics)
    for i in range(1, iterations + 1):
        start = time.perf_counter()
        state, train_metrics = jax.block_until_ready(training_iteration(state))
        seconds = time.perf_counter() - start
        key, eval_key = jax.random.split(key)
        metrics = {**{k: float(v) for k, v in train_metrics.items()},
                   **{k: float(v) for k, v in evaluate(params_of(state), eval_key).items()},
                   "training/sps": steps_per_iteration / seconds}
        if progress_fn is not None:
            progress_fn(i * steps_per_iteration, metrics)
    return state, metrics
