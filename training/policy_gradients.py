"""How useful is the analytic policy gradient through an env, against the horizon?

A probe in the spirit of Xu et al. 2022 (SHAC, sec. 3.1 and fig. 2) and Suh et
al. 2022 ("Do Differentiable Simulators Give Better Policy Gradients?"): after
`warmup_steps` random actions, every member of a batch acts for H steps with
the same linear tanh policy `a = tanh(obs W)`, `W = 0.01 N(0, 1)` `[obs, act]`,
and we take each member's gradient of its summed reward

    g_b = d/dW sum_{t < H} r_t^b

through `env.step`. Reported per horizon: the norm of the batch's policy
gradient `|mean_b g_b|`, its variance across members `mean_b |g_b - mean g|^2`
(both over the members whose gradient is finite), the median member norm, and
the fraction of members whose gradient holds a NaN or an infinity. Exploding
norms and variance with H are what make long windows useless (and what SHAC's
short windows and critic avoid).

Each member gets its own copy of W, so one backward pass gives every member's
gradient (`window_returns`). Episodes long enough for warm-up plus the longest
horizon; a member whose episode terminates inside the window absorbs (zero
reward after), counted in `done_fraction`. The rigid envs' observations are
float32 whatever the dtype (`RigidEnv.observe`), so in float64 the state and the
step run in float64 and the policy's input is rounded to float32.

    rows = policy_gradient_stats("ant", batch_size=16, horizons=(1, 4, 16), dtype="float64")
"""

from __future__ import annotations

import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gambol.envs import registry
from gambol.envs.base import Env, State


def linear_tanh_actions(weights, obs):
    """`tanh(obs_b W_b)`: weights `[B, obs, act]`, obs `[B, obs]` -> `[B, act]`."""
    return jnp.tanh(jnp.einsum("bo,boa->ba", obs.astype(weights.dtype), weights))


def rollout(env: Env, weights, state: State, horizon: int) -> tuple[State, jax.Array]:
    """`(final state, [B] summed rewards)` of `horizon` steps of each member's linear
    tanh policy (weights `[B, obs, act]`) from `state` (a batched env's)."""
    def step(carry, _):
        state, total = carry
        state = env.step(state, linear_tanh_actions(weights, state.obs))
        return (state, total + state.reward), None

    zero = jnp.zeros(state.reward.shape, jnp.result_type(state.reward, weights))
    return jax.lax.scan(step, (state, zero), None, length=horizon)[0]


def window_returns(env: Env, horizon: int):
    """`returns(weights [B, obs, act], state) -> [B]`: `rollout`'s summed rewards."""
    return lambda weights, state: rollout(env, weights, state, horizon)[1]


def warm_up(env: Env, key, steps: int) -> State:
    """A batched env's state after reset and `steps` uniform random actions in [-1, 1]."""
    reset_key, key = jax.random.split(key)
    state = env.reset(reset_key)
    shape = (env.batch_size, env.action_size)

    def step(state, key):
        return env.step(state, jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)), None

    return jax.lax.scan(step, state, jax.random.split(key, steps))[0]


def probe(env_name: str, batch_size: int, episode_length: int, dtype="float32", seed: int = 0,
          warmup_steps: int = 50, env_kwargs: dict | None = None):
    """`(env, state, weights)`: the batched, non-resetting env `env_name`, its state
    after warm-up and the policy weights `0.01 N(0, 1)` `[B, obs, act]` in `dtype`
    (call inside `jax.enable_x64()` for float64)."""
    env = registry.create(env_name, episode_length=episode_length, batch_size=batch_size,
                          auto_reset=False, **(env_kwargs or {}))
    env_key, weight_key = jax.random.split(jax.random.PRNGKey(seed))
    state = jax.jit(warm_up, static_argnums=(0, 2))(env, env_key, warmup_steps)
    w = 0.01 * jax.random.normal(weight_key, (env.observation_size, env.action_size), dtype)
    return env, state, jnp.broadcast_to(w, (batch_size,) + w.shape)


def gradient_stats(grads) -> dict:
    """Summary of per-member gradients `[B, ...]` (see the module docstring)."""
    grads = np.asarray(grads, np.float64).reshape(grads.shape[0], -1)
    finite = np.all(np.isfinite(grads), axis=1)
    stats = {"nonfinite_fraction": float(1.0 - np.mean(finite))}
    if not finite.any():
        return {**stats, "norm": float("nan"), "variance": float("nan"),
                "member_norm_median": float("nan")}
    g = grads[finite]
    mean = g.mean(axis=0)
    return {**stats, "norm": float(np.linalg.norm(mean)),
            "variance": float(np.mean(np.sum((g - mean) ** 2, axis=1))),
            "member_norm_median": float(np.median(np.linalg.norm(g, axis=1)))}


def policy_gradient_stats(env_name: str, batch_size: int = 16,
                          horizons: Sequence[int] = (1, 4, 16, 64, 128), dtype="float32",
                          seed: int = 0, warmup_steps: int = 50,
                          env_kwargs: dict | None = None) -> list[dict]:
    """One row per horizon: `env`, `dtype`, `batch_size`, `horizon`, `norm`,
    `variance`, `member_norm_median`, `nonfinite_fraction`, `done_fraction`
    (members whose episode ended inside the window) and `seconds` (compile
    and run of the gradient)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
    horizons = [int(h) for h in horizons]
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons: expected positive ints, got {horizons}")
    rows = []
    with jax.enable_x64(dtype == np.float64):
        env, state, weights = probe(env_name, batch_size, warmup_steps + max(horizons) + 1, dtype,
                                    seed, warmup_steps, env_kwargs)
        for horizon in horizons:
            returns = window_returns(env, horizon)
            start = time.perf_counter()
            grads = jax.block_until_ready(
                jax.jit(jax.grad(lambda w, s: jnp.sum(returns(w, s))))(weights, state))
            seconds = time.perf_counter() - start
            end, _ = jax.jit(lambda s: rollout(env, weights, s, horizon))(state)
            rows.append({"env": env_name, "dtype": dtype.name, "batch_size": batch_size,
                         "horizon": horizon, "warmup_steps": warmup_steps, **gradient_stats(grads),
                         "done_fraction": float(np.mean(np.asarray(end.done) > 0)),
                         "seconds": seconds})
    return rows

