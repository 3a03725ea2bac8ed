"""Differentiable windows of a rollout: what APG and SHAC share.

Both trainers differentiate the reward of a short window of `policy -> env.step`
through the env's dynamics, carry the env state from one window to the next
with its gradient stopped, and take an Adam step on the clipped gradient.

- `check_continuous`: the env's actions are real vectors the gradient can reach
  (an error naming the env otherwise), checked when a trainer is built.
- `check_horizon`: a window no longer than an episode.
- `desynchronize`: members' episode counters spread over the episode, so
  auto-resets fall in different windows.
- `unroll`: `acting.unroll` whose steps are optionally rematerialised
  (`jax.checkpoint` per env step: the backward pass recomputes each step's
  internals instead of storing them, so memory holds one carry per step).
- `make_optimizer`, `skipped`, `reduce_metrics`: global-norm clip then Adam, where an update whose
  gradient holds a NaN or an infinity is skipped (never applied) and counted.
- `scan_windows`, `training`: the jitted iteration (a scan of windows) and the
  `loop.Training` both build, counting env steps in windows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gambol.envs.base import Box, Env, State
from gambol.training import acting, loop

# `optax.apply_if_finite` gives up and applies after this many consecutive
# non-finite gradients; its counter saturates at the int32 maximum, so never.
NEVER = np.iinfo(np.int32).max


def check_continuous(env: Env, trainer: str) -> None:
    """Raise a ValueError naming the env unless every action spec is a non-empty
    float `Box` (the gradient of the return reaches real-valued actions only)."""
    spec = env.action_spec
    specs = spec.values() if isinstance(spec, dict) else [spec]
    for box in specs:
        if (not isinstance(box, Box) or not np.issubdtype(np.dtype(box.dtype), np.floating)
                or int(np.prod(box.shape)) == 0):
            raise ValueError(f"{trainer}: env {type(env.unwrapped).__name__} has no continuous action "
                             f"space (action spec {box!r}); {trainer} differentiates the return "
                             f"through env.step with respect to real-valued actions")


def check_horizon(config) -> None:
    """Raise a ValueError unless `config.horizon_length <= config.episode_length`."""
    if config.horizon_length > config.episode_length:
        raise ValueError(f"{type(config).__name__}.horizon_length: expected at most episode_length "
                         f"({config.episode_length}), got {config.horizon_length}")


def desynchronize(env_state: State, key, episode_length: int) -> State:
    """Each member's episode counter (`info["steps"]`) set to a uniform step of
    its episode, so auto-resets are spread over windows."""
    if "steps" not in env_state.info:
        return env_state
    steps = env_state.info["steps"]
    scrambled = jax.random.randint(key, steps.shape, 0, episode_length).astype(steps.dtype)
    return env_state.replace(info={**env_state.info, "steps": scrambled})


def unroll(env: Env, state: State, policy, key, length: int, remat: bool = False):
    """`(final state, transitions [length, ...])` of `length` steps (`acting.unroll`);
    with `remat` each step is a `jax.checkpoint`, recomputed in the backward pass."""
    def body(state, key):
        return acting.actor_step(env, state, policy, key)

    return jax.lax.scan(jax.checkpoint(body) if remat else body, state,
                        jax.random.split(key, length))


def make_optimizer(learning_rate: float, max_gradient_norm: float | None):
    """Adam after a global-norm clip (None: no clip), skipping any update whose
    gradient is not finite (`skipped` reads the flag)."""
    clip = [] if max_gradient_norm is None else [optax.clip_by_global_norm(max_gradient_norm)]
    return optax.apply_if_finite(optax.chain(*clip, optax.adam(learning_rate)), NEVER)


def skipped(opt_state) -> jax.Array:
    """[] int32: 1 if the last update of a `make_optimizer` state was skipped."""
    return 1 - opt_state.last_finite.astype(jnp.int32)


def reduce_metrics(metrics: dict) -> dict:
    """Per-window metrics `[windows]` of one iteration as scalars: skipped updates
    (`*nonfinite*`) summed, `training/overflow` its max, everything else the mean."""
    def reduce(name, values):
        if "nonfinite" in name:
            return jnp.sum(values)
        return jnp.max(values) if name == "training/overflow" else jnp.mean(values)

    return {k: reduce(k, v) for k, v in metrics.items()}


def scan_windows(window, windows: int):
    """A jitted `training_iteration(state) -> (state, metrics)`: `windows` calls of
    `window(state, None) -> (state, metrics)` in a `lax.scan`, metrics reduced by
    `reduce_metrics`."""
    @jax.jit
    def training_iteration(state):
        state, metrics = jax.lax.scan(window, state, None, length=windows)
        return state, reduce_metrics(metrics)

    return training_iteration


def training(config, init, iteration, params_of) -> loop.Training:
    """The `loop.Training` of a trainer whose state counts `window`s of
    `config.num_envs x config.horizon_length` env steps, in `config.num_evals`
    iterations at most; `iteration(windows)` builds the jitted iteration."""
    return loop.Training(init=init, iteration=iteration, units=lambda state: int(state.window),
                         steps_per_unit=config.num_envs * config.horizon_length,
                         params_of=params_of, max_iterations=config.num_evals,
                         unit_name="windows")
