"""The training loop every trainer runs, and the one `train` they share:

    config -> envs -> policy network -> the trainer's build -> init -> budget -> host loop

A trainer module (ppo, sac, es, apg, shac) holds its loss and its jitted
iteration. It describes itself with a `Trainer`, builds a `Training` for a run,
and its `train(...)` is `loop.train(TRAINER, ...)`. The rest is here, the same
for every trainer:

- budget (`split_budget`): `num_timesteps` env steps as at most
  `max_iterations` jitted iterations of equal length; an iteration is a number
  of the trainer's units (PPO updates, SAC env steps, ES generations, APG and
  SHAC windows), and the training state counts the units it has done.
- host loop (`run`): an evaluation, then each iteration followed by a
  checkpoint and an evaluation, each reported to `progress_fn(env_steps, metrics)`.
- resume: the latest checkpoint replaces the fresh state. Because the state
  counts its own units, the run continues from there to `num_timesteps` in
  total, whether it was interrupted or finished with a smaller budget
  (`schedule`); with an unchanged budget it ends exactly where an
  uninterrupted run ends.
- Ctrl-C: a KeyboardInterrupt inside the loop saves the last completed
  iteration (if it is not saved yet) before it propagates.
- devices: the env batch is split over a device mesh (`training.parallel`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp

from gambol.envs.base import Env
from gambol.training import checkpoint, parallel, setup
from gambol.training.acting import make_evaluator


# -- what a trainer gives the loop --------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Training:
    """A trainer built for one run: where it starts and what it repeats.

    init: `init(key) -> (state, eval_key)` from `jax.random.PRNGKey(seed)`.
    iteration: `iteration(units) -> training_iteration`, a jitted
      `training_iteration(state) -> (state, metrics)` doing `units` units.
    units: `units(state) -> int`, the units `state` has done.
    steps_per_unit: env steps per unit.
    params_of: `params_of(state)`, what the policy takes.
    max_iterations: the budget is split into at most this many iterations.
    unit_name: the checkpoint metadata's name of the units per iteration.
    first_steps: env steps before the first unit (SAC's random prefill).
    metadata: more JSON-able facts saved with each checkpoint.
    restore_like: `restore_like(state, saved_metadata) -> like`, the state a
      checkpoint is restored into (default: `state`).
    adapt: `adapt(restored, state) -> state`, a restored state made to fit this
      run (default: as restored).
    """
    init: Callable
    iteration: Callable[[int], Callable]
    units: Callable[[Any], int]
    steps_per_unit: int
    params_of: Callable
    max_iterations: int
    unit_name: str
    first_steps: int = 0
    metadata: dict = dataclasses.field(default_factory=dict)
    restore_like: Callable = lambda state, saved: state
    adapt: Callable = lambda restored, state: restored

    def num_steps(self, state) -> int:
        return self.first_steps + self.units(state) * self.steps_per_unit


@dataclasses.dataclass(frozen=True)
class Trainer:
    """A trainer module, as the loop sees it.

    name: its name in checkpoint metadata ("ppo").
    config_cls: its config dataclass (with `episode_length`, `num_eval_envs`
      and `normalize_observations`).
    build: `build(env, policy, config, num_timesteps, mesh) -> Training` for the
      batched training env and the `setup.PolicyNetwork`.
    hidden_field: the config field holding the policy's hidden layer sizes.
    batch_field: the config field holding the training env's batch size.
    mesh_field: the config field whose batch is split over the devices.
    auto_reset: whether the training env resets finished episodes.
    make_envs: `make_envs(environment, config, env_kwargs) -> (train_env,
      eval_env)`, default `setup.config_envs` with the fields above.
    """
    name: str
    config_cls: type
    build: Callable
    hidden_field: str = "hidden"
    batch_field: str = "num_envs"
    mesh_field: str = "num_envs"
    auto_reset: bool = True
    make_envs: Callable | None = None

    def envs(self, environment, config, env_kwargs=None) -> tuple[Env, Env]:
        if self.make_envs is not None:
            return self.make_envs(environment, config, env_kwargs)
        return setup.config_envs(environment, config, getattr(config, self.batch_field),
                                 self.auto_reset, env_kwargs, self.batch_field)

    def policy(self, env: Env, config) -> setup.PolicyNetwork:
        return setup.policy_network(env, getattr(config, self.hidden_field),
                                    config.normalize_observations)


# -- train ----------------------------------------------------------------------------------

def train(trainer: Trainer, environment, num_timesteps: int, *, config=None,
          env_kwargs: dict | None = None, seed: int = 0, progress_fn: Callable | None = None,
          checkpoint_dir: str | None = None, checkpoint_every: int = 1, resume: bool = False,
          num_devices: int | None = None, overrides: dict | None = None):
    """`(make_policy, params, metrics)` of a run of `trainer` (see any trainer's `train`)."""
    config = setup.configure(trainer.config_cls, config, overrides)
    setup.check_num_timesteps(num_timesteps)
    options = RunOptions(checkpoint_dir, checkpoint_every, resume=resume, num_devices=num_devices)
    env, eval_env = trainer.envs(environment, config, env_kwargs)
    policy = trainer.policy(env, config)
    mesh = parallel.make_mesh(num_devices, getattr(config, trainer.mesh_field), trainer.mesh_field)
    training = trainer.build(env, policy, config, num_timesteps, mesh)
    evaluate = make_evaluator(eval_env, policy.make_policy, config.episode_length)
    state, eval_key = training.init(jax.random.PRNGKey(seed))
    state, metrics = run(training, state, num_timesteps=num_timesteps, evaluate=evaluate,
                         key=eval_key, progress_fn=progress_fn, options=options, mesh=mesh,
                         identity={"trainer": trainer.name, "config": config, "seed": seed})
    return policy.make_policy, training.params_of(state), metrics


def policy_spec(trainer: Trainer, environment, config=None, env_kwargs: dict | None = None):
    """`(make_policy, abstract params)` of the policy `train` returns for these
    settings: the params as `jax.ShapeDtypeStruct`s, to restore a saved policy into."""
    config = config or trainer.config_cls()
    env, _ = trainer.envs(environment, config, env_kwargs)
    policy = trainer.policy(env, config)
    return policy.make_policy, policy.abstract_params()


# -- budget --------------------------------------------------------------------------------

def split_budget(num_timesteps: int, steps_per_unit: int, max_iterations: int) -> tuple[int, int]:
    """`(iterations, units_per_iteration)`: at least `num_timesteps` env steps
    in at most `max_iterations` jitted iterations of equal length."""
    total = max(1, math.ceil(num_timesteps / steps_per_unit))
    iterations = min(max_iterations, total)
    return iterations, math.ceil(total / iterations)


def schedule(done: int, total: int, per_iteration: int) -> list[int]:
    """The units of each iteration that take a run from `done` units to `total`,
    each ending at a multiple of `per_iteration` (where an uninterrupted run of
    `total` units ends its iterations): `schedule(3, 6, 2) == [1, 2]`."""
    out = []
    while done < total:
        out.append(min(per_iteration - done % per_iteration, total - done))
        done += out[-1]
    return out


# -- the host loop ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How `run` runs, the same for every trainer.

    checkpoint_dir: where to save the training state (None: no checkpoints).
    checkpoint_every: save after every this many iterations (and after the last).
    keep_checkpoints: how many of the latest checkpoints to keep.
    resume: continue from the latest checkpoint in `checkpoint_dir`, if any;
      without it a `checkpoint_dir` that holds checkpoints is an error.
    num_devices: devices to split the env batch over (None: all of `jax.devices()`).
    """
    checkpoint_dir: str | None = None
    checkpoint_every: int = 1
    keep_checkpoints: int = 3
    resume: bool = False
    num_devices: int | None = None

    def __post_init__(self):
        for name in ("checkpoint_every", "keep_checkpoints"):
            if not setup.is_positive_int(getattr(self, name)):
                raise ValueError(f"{name}: expected a positive int, got {getattr(self, name)!r}")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume: needs a checkpoint_dir to resume from")


def _strongly_typed(state):
    # a weakly typed leaf (a Python float in a reset) would retrace the jit after one iteration
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), state)


def _floats(metrics: dict) -> dict:
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


def _restore(checkpoints: checkpoint.Checkpoints, training: Training, state, identity: dict, mesh):
    """`(state, iteration)` of the latest checkpoint, after checking it is this run's."""
    saved = checkpoints.metadata()
    checkpoint.check_metadata(saved, identity)
    like = parallel.place(training.restore_like(state, saved), mesh)
    restored, saved = checkpoints.restore(like=like)
    return parallel.place(training.adapt(restored, state), mesh), saved["iteration"]


def run(training: Training, state, *, num_timesteps: int, evaluate: Callable, key,
        progress_fn: Callable[[int, dict], None] | None = None,
        options: RunOptions = RunOptions(), identity: dict | None = None, mesh=None):
    """The host side of a trainer: an evaluation, then the jitted iterations that
    bring `state` to `num_timesteps` env steps, each followed by a checkpoint
    (`options`) and an evaluation of `training.params_of(state)`, each reported
    to `progress_fn(env steps, metrics)` (the first evaluation only when the run
    starts at iteration 0). Returns `(state, last metrics)`.

    Iterations are compiled before the first one runs, so `training/sps` (env
    steps per second of the iterations) leaves compilation out; it is reported
    as `training/compile_seconds`. `identity` (the trainer, config and seed) is
    saved with each checkpoint and must match on resume. The env state
    (`state.env_state`, leaves `[batch, ...]`) is split over `mesh`'s devices,
    everything else is replicated (see `parallel`).
    """
    identity = identity or {}
    iterations, per_iteration = split_budget(num_timesteps - training.first_steps,
                                             training.steps_per_unit, training.max_iterations)
    total = iterations * per_iteration
    iteration_fns = {per_iteration: training.iteration(per_iteration)}
    metadata = checkpoint.to_json({**identity, **training.metadata,
                                   training.unit_name: per_iteration, "iterations": iterations})
    mesh = mesh if mesh is not None else parallel.make_mesh(options.num_devices)
    state = parallel.place(_strongly_typed(state), mesh)
    shardings = jax.tree.map(lambda x: x.sharding, state)
    checkpoints = (checkpoint.Checkpoints(options.checkpoint_dir, options.keep_checkpoints)
                   if options.checkpoint_dir is not None else None)
    try:
        iteration = saved = 0
        if checkpoints is not None and checkpoints.latest_step() is not None:
            if not options.resume:
                raise ValueError(f"checkpoint_dir: {options.checkpoint_dir} already holds a run "
                                 f"(checkpoint {checkpoints.latest_step()}); pass resume=True to "
                                 f"continue it, or use a new checkpoint_dir")
            state, iteration = _restore(checkpoints, training, state, identity, mesh)
            saved = iteration
        chunks = schedule(training.units(state), total, per_iteration)

        def evaluation(i):
            return _floats(evaluate(training.params_of(state), jax.random.fold_in(key, i)))

        metrics = evaluation(iteration)
        if progress_fn is not None and iteration == 0:
            progress_fn(training.num_steps(state), metrics)
        compiled, compile_seconds = {}, 0.0
        for units in dict.fromkeys(chunks):
            start = time.perf_counter()
            step_fn = jax.jit(iteration_fns.get(units) or training.iteration(units),
                              in_shardings=(shardings,),
                              out_shardings=(shardings, parallel.replicated(mesh)))
            compiled[units] = step_fn.lower(state).compile()
            compile_seconds += time.perf_counter() - start
        try:
            for n, units in enumerate(chunks, 1):
                steps_before = training.num_steps(state)
                start = time.perf_counter()
                new_state, train_metrics = jax.block_until_ready(compiled[units](state))
                seconds = time.perf_counter() - start
                state, iteration = new_state, iteration + 1
                if checkpoints is not None and (iteration % options.checkpoint_every == 0
                                                or n == len(chunks)):
                    checkpoints.save(iteration, state, {**metadata, "iteration": iteration})
                    saved = iteration
                metrics = {**_floats(train_metrics), **evaluation(iteration),
                           "training/sps": (training.num_steps(state) - steps_before) / seconds}
                if progress_fn is not None:
                    progress_fn(training.num_steps(state), metrics)
        except KeyboardInterrupt:
            # `state` is the last completed iteration's: save it, so a resume continues there
            if checkpoints is not None and iteration > saved:
                checkpoints.save(iteration, state, {**metadata, "iteration": iteration})
            raise
    finally:
        if checkpoints is not None:
            checkpoints.close()
    return state, {**metrics, "training/compile_seconds": compile_seconds}
