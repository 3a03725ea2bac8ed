"""What every trainer sets itself up with, and the host loop that runs it.

- `configure`, `check_positive`: a config dataclass with keyword overrides, and
  errors that name the field, what was expected and what came.
- `make_envs`: the batched training env and the evaluation env from a
  registered name, a bare Env or an already batched one.
- `make_policy_network`, `make_trainer_parts`: a policy network (one per team
  for multi-agent envs) and the evaluator.
- `split_budget`: a step budget as equal jitted iterations.
- `training_loop`: evaluation, then jitted iterations each followed by a
  checkpoint and an evaluation, reported to `progress_fn`; resumable and
  device-parallel (see `training.checkpoint`, `training.parallel`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gambol import agents
from gambol.agents import distributions
from gambol.envs import registry
from gambol.envs.base import Env, Wrapper
from gambol.envs.wrappers import ActionRepeatWrapper, AutoResetWrapper, EpisodeWrapper, VmapWrapper
from gambol.training import checkpoint, parallel
from gambol.training.acting import make_evaluator


# -- config ---------------------------------------------------------------------------------

def configure(config_cls, config=None, overrides: dict | None = None):
    """`config` (default `config_cls()`) with `overrides` replaced; an unknown
    keyword raises a TypeError listing the valid ones."""
    overrides = overrides or {}
    valid = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TypeError(f"{config_cls.__name__}: unknown keyword(s) {unknown}; valid: {valid}")
    if config is None:
        config = config_cls()
    elif not isinstance(config, config_cls):
        raise TypeError(f"config: expected a {config_cls.__name__}, got {type(config).__name__}")
    return dataclasses.replace(config, **overrides)


def is_positive_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def check_positive(config, ints: Sequence[str] = (), floats: Sequence[str] = ()) -> None:
    """Raise a ValueError naming the first field of `config` in `ints` that is
    not a positive int, or in `floats` that is not > 0."""
    name = type(config).__name__
    for field in ints:
        value = getattr(config, field)
        if not is_positive_int(value):
            raise ValueError(f"{name}.{field}: expected a positive int, got {value!r}")
    for field in floats:
        value = getattr(config, field)
        if not value > 0:
            raise ValueError(f"{name}.{field}: expected > 0, got {value!r}")


def check_num_timesteps(num_timesteps) -> None:
    if not is_positive_int(num_timesteps):
        raise ValueError(f"num_timesteps: expected a positive int, got {num_timesteps!r}")


# -- environments ------------------------------------------------------------------------------

def layers(env: Env) -> list[Env]:
    """`env` and every env it wraps, outermost first."""
    out = [env]
    while isinstance(out[-1], Wrapper):
        out.append(out[-1].env)
    return out


def _find(env: Env, kind: type):
    return next((e for e in layers(env) if isinstance(e, kind)), None)


def _check_wrappers(env: Env, episode_length: int, action_repeat: int, batched: bool) -> Env:
    """An unbatched `env` with EpisodeWrapper (and ActionRepeatWrapper) added where
    missing; a batched one as it is. Wrappers already there must agree."""
    episode, repeat = _find(env, EpisodeWrapper), _find(env, ActionRepeatWrapper)
    if episode is not None and episode.episode_length != episode_length:
        raise ValueError(f"environment: its EpisodeWrapper has episode_length={episode.episode_length}, "
                         f"but the trainer's episode_length is {episode_length}")
    if repeat is not None and repeat.repeat != action_repeat:
        raise ValueError(f"environment: its ActionRepeatWrapper has repeat={repeat.repeat}, "
                         f"but the trainer's action_repeat is {action_repeat}")
    if batched:
        if episode is None:
            raise ValueError("environment: a batched env needs an EpisodeWrapper inside its "
                             "VmapWrapper (gambol.envs.create(..., episode_length=...))")
        if repeat is None and action_repeat != 1:
            raise ValueError(f"environment: action_repeat={action_repeat}, but the batched env has "
                             f"no ActionRepeatWrapper")
        return env
    if repeat is None and action_repeat != 1:
        if episode is not None:
            raise ValueError(f"environment: action_repeat={action_repeat} needs the ActionRepeatWrapper "
                             f"inside the env's EpisodeWrapper; pass the env without either")
        env = ActionRepeatWrapper(env, action_repeat)
    return env if episode is not None else EpisodeWrapper(env, episode_length)


def make_envs(environment: str | Env, *, batch_size: int, eval_batch_size: int,
              episode_length: int, auto_reset: bool, action_repeat: int = 1,
              env_kwargs: dict | None = None, batch_field: str = "num_envs") -> tuple[Env, Env]:
    """`(train_env, eval_env)`: `batch_size` members (auto-resetting with
    `auto_reset`) to train on, and `eval_batch_size` members that do not reset
    (a finished episode absorbs) to evaluate on.

    `environment` is a registered name (built by `gambol.envs.create` with
    `env_kwargs`), an unbatched Env (gets an `ActionRepeatWrapper` and an
    `EpisodeWrapper` unless it has them, then a `VmapWrapper`), or an Env
    batched with `batch_size` members and an EpisodeWrapper inside (its outer
    `AutoResetWrapper`, if any, is kept for training). Wrappers it has must
    agree with `episode_length` and `action_repeat`; `batch_field` names the
    batch size in errors.
    """
    if isinstance(environment, str):
        common = dict(episode_length=episode_length, action_repeat=action_repeat, **(env_kwargs or {}))
        return (registry.create(environment, batch_size=batch_size, auto_reset=auto_reset, **common),
                registry.create(environment, batch_size=eval_batch_size, auto_reset=False, **common))
    if not isinstance(environment, Env):
        raise TypeError(f"environment: expected a gambol Env or a registered name, "
                        f"got {type(environment).__name__}")
    if env_kwargs:
        raise ValueError(f"env_kwargs: only used with a registered env name, got {sorted(env_kwargs)}")
    outer = environment if isinstance(environment, AutoResetWrapper) else None
    base = environment.env if outer is not None else environment
    if any(isinstance(e, AutoResetWrapper) for e in layers(base)):
        raise ValueError("environment: AutoResetWrapper must be the outermost wrapper; "
                         "pass the env without it and the trainer adds it where it needs one")
    batched = base.batch_size is not None
    if batched and base.batch_size != batch_size:
        raise ValueError(f"environment: expected an unbatched env (the trainer batches it) or one "
                         f"with batch_size == {batch_field} ({batch_size}), got {base.batch_size}")
    base = _check_wrappers(base, episode_length, action_repeat, batched)
    if not batched:
        base = VmapWrapper(base, batch_size)
        outer = None
    vmap = _find(base, VmapWrapper)
    # domain-randomised members carry one set of params each: evaluate on those members
    rebatch = vmap is not None and vmap.params is vmap.env.params
    eval_env = VmapWrapper(vmap.env, eval_batch_size) if rebatch else base
    train_env = (outer or AutoResetWrapper(base)) if auto_reset else base
    return train_env, eval_env


# -- policy network and evaluator -----------------------------------------------------------

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


def config_envs(environment: str | Env, config, batch_size: int, auto_reset: bool,
                env_kwargs: dict | None = None, batch_field: str = "num_envs") -> tuple[Env, Env]:
    """`make_envs` with `episode_length`, `num_eval_envs` and `action_repeat`
    (1 if it has none) from a trainer's `config`."""
    return make_envs(environment, batch_size=batch_size, eval_batch_size=config.num_eval_envs,
                     episode_length=config.episode_length, auto_reset=auto_reset,
                     action_repeat=getattr(config, "action_repeat", 1), env_kwargs=env_kwargs,
                     batch_field=batch_field)


def make_trainer_parts(environment: str | Env, config, batch_size: int, auto_reset: bool,
                       env_kwargs: dict | None = None, batch_field: str = "num_envs"):
    """`(env, evaluate, (make_policy, init_fn, join))` for a trainer whose `config`
    has `episode_length`, `num_eval_envs`, `hidden` and `normalize_observations`:
    the batched training env, a jitted evaluator on `num_eval_envs` fresh
    episodes, and the policy network (see `make_policy_network`)."""
    env, eval_env = config_envs(environment, config, batch_size, auto_reset, env_kwargs, batch_field)
    policy_parts = make_policy_network(env, config.hidden,
                                       normalize_observations=config.normalize_observations)
    return env, make_evaluator(eval_env, policy_parts[0], config.episode_length), policy_parts


def policy_spec(environment: str | Env, config, batch_size: int, auto_reset: bool,
                env_kwargs: dict | None = None):
    """`(make_policy, abstract params)` of `make_trainer_parts`' policy network."""
    env, _ = config_envs(environment, config, batch_size, auto_reset, env_kwargs)
    make_policy, init_fn, join = make_policy_network(
        env, config.hidden, normalize_observations=config.normalize_observations)
    return make_policy, join(*jax.eval_shape(init_fn, jax.random.PRNGKey(0)))


# -- the host loop ---------------------------------------------------------------------------

def split_budget(num_timesteps: int, steps_per_update: int, num_evals: int) -> tuple[int, int]:
    """`(iterations, updates_per_iteration)`: at least `num_timesteps` env steps
    in at most `num_evals` jitted iterations of equal length."""
    total = max(1, math.ceil(num_timesteps / steps_per_update))
    iterations = min(num_evals, total)
    return iterations, math.ceil(total / iterations)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How `training_loop` runs, the same for every trainer.

    checkpoint_dir: where to save the training state (None: no checkpoints).
    checkpoint_every: save after every this many iterations (and after the last).
    keep_checkpoints: how many of the latest checkpoints to keep.
    resume: continue from the latest checkpoint in `checkpoint_dir`, if any.
    num_devices: devices to split the env batch over (None: all of `jax.devices()`).
    """
    checkpoint_dir: str | None = None
    checkpoint_every: int = 1
    keep_checkpoints: int = 3
    resume: bool = False
    num_devices: int | None = None

    def __post_init__(self):
        for name in ("checkpoint_every", "keep_checkpoints"):
            if not is_positive_int(getattr(self, name)):
                raise ValueError(f"{name}: expected a positive int, got {getattr(self, name)!r}")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume: needs a checkpoint_dir to resume from")


def _strongly_typed(state):
    # a weakly typed leaf (a Python float in a reset) would retrace the jit after one iteration
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), state)


def _floats(metrics: dict) -> dict:
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


def training_loop(training_iteration: Callable, state, *, evaluate: Callable, params_of: Callable,
                  num_steps: Callable, iterations: int, key,
                  progress_fn: Callable[[int, dict], None] | None = None,
                  options: RunOptions = RunOptions(), metadata: dict | None = None,
                  batch_size: int | None = None, batch_field: str = "num_envs", mesh=None):
    """The host side of a trainer: an evaluation, then `iterations` times one jitted
    `training_iteration(state) -> (state, metrics)`, a checkpoint (`options`) and
    an evaluation of `params_of(state)`, each reported to
    `progress_fn(num_steps(state), metrics)`. Returns `(state, last metrics)`.

    The iteration is compiled before the first one runs, so `training/sps`
    (env steps per second of the iterations) leaves compilation out; it is
    reported as `training/compile_seconds`. With `options.resume` the latest
    checkpoint replaces `state` and the loop continues after its iteration, so
    the run ends where an uninterrupted one would. `metadata` (JSON-able: the
    config, say) is saved with each checkpoint and must match on resume.
    The env state (`state.env_state`, leaves `[batch_size, ...]`) is split over
    `options.num_devices` devices (or `mesh`'s), everything else is replicated
    (see `parallel`).
    """
    metadata = checkpoint.to_json({**(metadata or {}), "iterations": iterations})
    if mesh is None:
        mesh = parallel.make_mesh(options.num_devices, batch_size, batch_field)
    state = parallel.place(_strongly_typed(state), mesh)
    shardings = jax.tree.map(lambda x: x.sharding, state)
    step_fn = jax.jit(training_iteration, in_shardings=(shardings,),
                      out_shardings=(shardings, parallel.replicated(mesh)))
    checkpoints = (checkpoint.Checkpoints(options.checkpoint_dir, options.keep_checkpoints)
                   if options.checkpoint_dir is not None else None)
    try:
        done = 0
        if options.resume and checkpoints.latest_step() is not None:
            state, saved = checkpoints.restore(like=state)
            checkpoint.check_metadata(saved, metadata)
            done = saved["iteration"]

        def evaluation(i):
            return _floats(evaluate(params_of(state), jax.random.fold_in(key, i)))

        metrics = evaluation(done)
        if progress_fn is not None and done == 0:
            progress_fn(num_steps(state), metrics)
        start = time.perf_counter()
        compiled = step_fn.lower(state).compile()
        compile_seconds = time.perf_counter() - start
        for i in range(done + 1, iterations + 1):
            steps_before = num_steps(state)
            start = time.perf_counter()
            state, train_metrics = jax.block_until_ready(compiled(state))
            seconds = time.perf_counter() - start
            if checkpoints is not None and (i % options.checkpoint_every == 0 or i == iterations):
                checkpoints.save(i, state, {**metadata, "iteration": i})
            metrics = {**_floats(train_metrics), **evaluation(i),
                       "training/sps": (num_steps(state) - steps_before) / seconds}
            if progress_fn is not None:
                progress_fn(num_steps(state), metrics)
    finally:
        if checkpoints is not None:
            checkpoints.close()
    return state, {**metrics, "training/compile_seconds": compile_seconds}
