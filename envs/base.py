"""The environment contract: `State`, `Box` specs, `Env` and `Wrapper`.

An env is static configuration on a Python object plus two pure functions,
`reset(rng) -> State` and `step(state, action) -> State`, that work under `jit`,
`vmap`, `grad` and `lax.scan`. Physical constants live in `env.params`, a pytree
that `with_params` swaps (domain randomisation, meta-optimisation by `grad`).

Single-agent envs use plain arrays: `obs: [obs_size]`, `action: [action_size]`,
`reward: []`. Multi-agent envs key `obs`, `action` and `reward` by team, each
value with a leading agent axis (`obs[team]: [agents[team], obs_size[team]]`);
`done` is always per environment.

Contract for what `step` does with actions (the same for every env):
- shape and dtype are checked when `step` is traced: a wrong shape, a non-float
  dtype or an unknown team raises with the expected and the received value;
- values outside the spec's bounds are clipped to them (so the gradient with
  respect to an out-of-bounds action component is zero);
- non-finite entries are replaced by zero and reported in
  `state.info["invalid_action"]` (1.0 on that step), since nothing can raise
  inside `jit`;
- a finished episode is absorbing: stepping a state whose `done` is 1 returns
  that state unchanged with zero reward, until `reset` (or the auto-reset
  wrapper) starts a new episode.

Batches: `VmapWrapper` steps a batch of members through `step_batch(state,
action, params)` and starts them through `reset_batch(rng, params)`, whose
default is `jax.vmap` of `step` / `reset` (members see the batch axis by name,
`in_batch`). An env that can step a whole batch better than vmap does
overrides them (the rigid envs run the engine's batch-minor `step_batch`);
wrappers whose logic is elementwise (episodes, action repeat) pass the batch
through to the env they wrap.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

Array = jax.Array

# the axis name a batch's vmap gives its members (see Env.in_batch)
BATCH_AXIS = "gambol_batch"


@dataclasses.dataclass(frozen=True)
class Box:
    """Shape and bounds of one array-valued space (static, not a pytree).

    `low`/`high` broadcast to `shape`; `dtype` is the dtype an adapter exposes.
    """

    shape: tuple[int, ...]
    low: Any = -np.inf
    high: Any = np.inf
    dtype: Any = np.float32

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        low = np.broadcast_to(np.asarray(self.low, np.float64), self.shape)
        high = np.broadcast_to(np.asarray(self.high, np.float64), self.shape)
        if np.any(low > high):
            raise ValueError(f"Box: low must be <= high everywhere, got low={low}, high={high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def bounded(self) -> bool:
        return bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))


@struct.dataclass
class State:
    """Everything an env carries between steps.

    pipeline_state: the physics state (positions, velocities, neighbour list...).
    obs:    [obs_size] or {team: [agents, obs_size]}.
    reward: [] or {team: [agents]}.
    done:   [] float (1.0 once the episode ended, by termination or truncation).
    metrics: per-step scalars for logging (reward terms...).
    info:   bookkeeping that wrappers add to (steps, truncation, rng...); envs
            keep keys they do not own when they step.
    """

    pipeline_state: Any
    obs: Any
    reward: Any
    done: Array
    metrics: dict = struct.field(default_factory=dict)
    info: dict = struct.field(default_factory=dict)


def is_key_batch(rng) -> bool:
    """Whether `rng` holds several PRNG keys (typed `[B]` or raw `[B, 2]`)."""
    rng = jnp.asarray(rng) if not isinstance(rng, jax.Array) else rng
    if jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key):
        return rng.ndim >= 1
    return rng.ndim >= 2


def split_keys(rng, batched: bool):
    """`(carry, sub)` from `jax.random.split`, per member when `batched`."""
    split = jax.vmap(jax.random.split) if batched else jax.random.split
    keys = split(rng)
    return (keys[:, 0], keys[:, 1]) if batched else (keys[0], keys[1])


def _check_single_key(name: str, rng) -> None:
    if is_key_batch(rng):
        raise ValueError(
            f"{name}: expected one PRNG key (a typed key or uint32[2]), got shape "
            f"{jnp.shape(rng)}; batch the env with gambol.envs.VmapWrapper or "
            f"create(..., batch_size=B) to reset several members at once")


def _check_array(where: str, x, box: Box, batch: tuple[int, ...] = ()) -> Array:
    """Trace-time check of one action array against its Box (leading `batch` axes)."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    expected = batch + box.shape
    if tuple(x.shape) != expected:
        raise ValueError(f"{where}: expected shape {expected}, got {tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{where}: expected a floating dtype, got {x.dtype}")
    return jnp.asarray(x)


def check_action(action, spec, agents: dict[str, int] | None = None, batch: tuple[int, ...] = ()):
    """Check an action pytree against `spec` (a Box, or {team: Box} with `agents`); returns arrays."""
    if isinstance(spec, dict):
        if not isinstance(action, dict):
            raise TypeError(f"action: expected a dict keyed by team {sorted(spec)}, "
                            f"got {type(action).__name__}")
        if set(action) != set(spec):
            raise KeyError(f"action: expected teams {sorted(spec)}, got {sorted(action)}")
        return {t: _check_array(f"action[{t!r}]", action[t], spec[t], batch + (agents[t],))
                for t in spec}
    if isinstance(action, dict):
        raise TypeError(f"action: this env is single-agent; expected an array of shape "
                        f"{batch + spec.shape}, got a dict with keys {sorted(action)}")
    return _check_array("action", action, spec, batch)


def _clip_and_sanitise(action: Array, box: Box) -> tuple[Array, Array]:
    finite = jnp.isfinite(action)
    safe = jnp.where(finite, action, 0.0)
    low = jnp.asarray(box.low, action.dtype)
    high = jnp.asarray(box.high, action.dtype)
    return jnp.clip(safe, low, high), jnp.any(~finite)


class Env:
    """Base class of gambol envs: subclasses implement `_reset` and `_step`.

    Subclasses set `observation_spec` and `action_spec` (a `Box`, or for
    multi-agent envs `{team: Box}` whose shape excludes the agent axis), `params`
    (a pytree of traced physical constants, or None), and for multi-agent envs
    `agents = {team: count}`. `version` is bumped whenever the observation or
    action layout, reward or dynamics change.
    """

    observation_spec: Box | dict[str, Box]
    action_spec: Box | dict[str, Box]
    params: Any = None
    agents: dict[str, int] | None = None
    version: str = "0"
    batch_size: int | None = None

    # -- subclass hooks ------------------------------------------------------
    def _reset(self, rng) -> State:
        raise NotImplementedError

    def _step(self, state: State, action) -> State:
        raise NotImplementedError

    # -- public API ------------------------------------------------------------
    def reset(self, rng) -> State:
        """Initial state for one PRNG key."""
        _check_single_key(f"{type(self).__name__}.reset(rng)", rng)
        state = self._reset(rng)
        return state.replace(info={**state.info, "invalid_action": jnp.zeros(())})

    def step(self, state: State, action) -> State:
        """Advance one step; see the module docstring for how actions are treated."""
        action, invalid = self.accept_action(action)
        return self.conclude(state, self._step(state, action), invalid)

    def accept_action(self, action):
        """(action clipped and sanitised, 1.0 where it held non-finite values), after
        the trace-time shape and dtype check of one member's action."""
        action = check_action(action, self.action_spec, self.agents)
        if isinstance(action, dict):
            parts = {t: _clip_and_sanitise(a, self.action_spec[t]) for t, a in action.items()}
            action = {t: p[0] for t, p in parts.items()}
            invalid = jnp.any(jnp.stack([p[1] for p in parts.values()]))
        else:
            action, invalid = _clip_and_sanitise(action, self.action_spec)
        return action, invalid.astype(jnp.float32)

    def conclude(self, state: State, nxt: State, invalid) -> State:
        """`nxt` with the invalid-action flag, or `state` itself if it was done (absorbing)."""
        return absorb(state, nxt.replace(info={**nxt.info, "invalid_action": invalid}))

    def step_batch(self, state: State, action, params=None) -> State:
        """Advance a batch of members: every leaf of `state` and `action` has a leading
        batch axis; `params`, if given, holds each member's physical constants (leaves
        [batch, ...]). Default: `vmap` of `step`."""
        return vmap_members(self, "step", params)(state, action)

    def reset_batch(self, rng, params=None) -> State:
        """Initial states for a batch of keys [batch, ...] (see `step_batch`)."""
        return vmap_members(self, "reset", params)(rng)

    def with_params(self, params) -> Env:
        """A copy of this env whose physical constants are `params`."""
        env = copy.copy(self)
        env.params = params
        return env

    def map_unwrapped(self, fn) -> Env:
        """`fn(innermost env)`, re-wrapped in copies of the same wrappers."""
        return fn(self)

    def in_batch(self, axis_name: str) -> Env:
        """This env as a member of a `vmap` over `axis_name` (the default ignores the name;
        envs with batch-wide decisions, like neighbour-list rebuilds, use it)."""
        return self

    def scripted_action(self, state: State):
        """Actions for every team when no learner drives them (zeros by default).

        Multi-agent envs override this with their built-in behaviour (for
        example the energy model of a flock); adapters use it for the teams a
        learner does not control.
        """
        def zeros(box, n):
            mid = np.clip(0.0, box.low, box.high)
            return jnp.broadcast_to(jnp.asarray(mid, jnp.float32), (n,) + box.shape)
        if self.agents is None:
            return zeros(self.action_spec, 1)[0]
        return {t: zeros(self.action_spec[t], n) for t, n in self.agents.items()}

    def render(self, state: State) -> np.ndarray:
        """An RGB image `uint8[H, W, 3]` of one (unbatched) state."""
        raise NotImplementedError(f"{type(self).__name__} cannot render")

    # -- sizes -------------------------------------------------------------------
    @property
    def observation_size(self) -> int | dict[str, int]:
        return _size(self.observation_spec)

    @property
    def action_size(self) -> int | dict[str, int]:
        return _size(self.action_spec)

    @property
    def is_multi_agent(self) -> bool:
        return self.agents is not None

    @property
    def unwrapped(self) -> Env:
        return self


def vmap_members(env: Env, method: str, params=None):
    """`jax.vmap` of `env.<method>` over a batch of members, which see the batch axis
    by name (`in_batch`); with `params` (leaves [batch, ...]) each member runs
    `env.with_params(its params)`."""
    env = env.map_unwrapped(lambda e: e.in_batch(BATCH_AXIS))
    if params is None:
        return jax.vmap(getattr(env, method), axis_name=BATCH_AXIS)
    member = lambda p, *args: getattr(env.with_params(p), method)(*args)  # noqa: E731
    return lambda *args: jax.vmap(member, axis_name=BATCH_AXIS)(params, *args)


def _size(spec):
    if isinstance(spec, dict):
        return {t: int(np.prod(b.shape)) for t, b in spec.items()}
    return int(np.prod(spec.shape))


def like(tree, reference):
    """`tree` with each leaf cast to the dtype of the matching leaf of `reference`.

    Keeps a state's dtypes fixed from step to step (a `lax.scan` carry), also when
    float64 is enabled and a reset and a step produce different float widths.
    """
    return jax.tree_util.tree_map(lambda x, r: jnp.asarray(x).astype(jnp.result_type(r)), tree, reference)


def absorb(before: State, after: State) -> State:
    """`after` in `before`'s dtypes; if `before.done`, `before` itself with zero reward.

    `done` is a scalar here (batches reach an env's step through `vmap`); the branch
    means a large state is not copied by a select when nothing is finished.
    """
    frozen = before.replace(reward=jax.tree_util.tree_map(jnp.zeros_like, before.reward))
    return jax.lax.cond(before.done > 0, lambda: frozen, lambda: like(after, before))


class Wrapper(Env):
    """An env around another; forwards everything it does not change."""

    def __init__(self, env: Env):
        self.env = env

    def reset(self, rng) -> State:
        return self.env.reset(rng)

    def step(self, state: State, action) -> State:
        return self.env.step(state, action)

    def with_params(self, params) -> Env:
        wrapper = copy.copy(self)
        wrapper.env = self.env.with_params(params)
        return wrapper

    def map_unwrapped(self, fn) -> Env:
        wrapper = copy.copy(self)
        wrapper.env = self.env.map_unwrapped(fn)
        return wrapper

    def scripted_action(self, state: State):
        return self.env.scripted_action(state)

    def render(self, state: State) -> np.ndarray:
        return self.env.render(state)

    def __getattr__(self, name):
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def params(self):
        return self.env.params

    @property
    def observation_spec(self):
        return self.env.observation_spec

    @property
    def action_spec(self):
        return self.env.action_spec

    @property
    def agents(self):
        return self.env.agents

    @property
    def version(self):
        return self.env.version

    @property
    def batch_size(self):
        return self.env.batch_size

    @property
    def unwrapped(self) -> Env:
        return self.env.unwrapped

    def __repr__(self):
        return f"{type(self).__name__}({self.env!r})"
