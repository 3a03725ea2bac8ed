"""Wrappers: episode length, action repeat, batching, domain randomisation, auto-reset.

`create` stacks them in the order
`AutoReset(Vmap(Episode(ActionRepeat(env))))`, so `episode_length` counts agent
decisions, each of which runs `action_repeat` physics steps. Every wrapper keeps
`reset`/`step` pure, so the stack still works under `jit`, `vmap`, `grad` and
`lax.scan`.

Info keys added along the way:
- `steps`:      agent steps taken in this episode (Episode).
- `truncation`: 1.0 when the episode ended by the time limit and not by
                termination (Episode); learners bootstrap on these.
- `rng`:        the member's key stream for its next reset (AutoReset).
- `final_obs`:  the observation the step reached before an auto-reset replaced
                it (AutoReset); equal to `obs` where nothing was reset.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gambol.envs.base import BATCH_AXIS, Env, State, Wrapper, is_key_batch, like, split_keys, vmap_members  # noqa: F401

# Info entries that describe the transition just taken; an auto-reset keeps them
# from the step, while everything else in `info` comes from the fresh episode.
TRANSITION_INFO = ("truncation", "invalid_action")


def where_members(mask: jax.Array, a, b):
    """Per batch member select over pytrees whose leaves share the leading axis."""
    def sel(x, y):
        m = jnp.reshape(mask, mask.shape + (1,) * (jnp.ndim(x) - mask.ndim))
        return jnp.where(m, x, y)
    return jax.tree_util.tree_map(sel, a, b)


class EpisodeWrapper(Wrapper):
    """Ends episodes after `episode_length` agent steps, marking them truncated."""

    def __init__(self, env: Env, episode_length: int):
        if not isinstance(episode_length, (int, np.integer)) or episode_length < 1:
            raise ValueError(f"episode_length: expected a positive int, got {episode_length!r}")
        super().__init__(env)
        self.episode_length = int(episode_length)

    def reset(self, rng) -> State:
        return self._start(self.env.reset(rng))

    def reset_batch(self, rng, params=None) -> State:
        return self._start(self.env.reset_batch(rng, params))

    def step(self, state: State, action) -> State:
        return self._count(state, self.env.step(state, action))

    def step_batch(self, state: State, action, params=None) -> State:
        return self._count(state, self.env.step_batch(state, action, params))

    @staticmethod
    def _start(state: State) -> State:
        zeros = jnp.zeros_like(state.done)
        return state.replace(info={**state.info, "steps": zeros.astype(jnp.int32),
                                   "truncation": zeros})

    def _count(self, state: State, nxt: State) -> State:
        """(elementwise: one member or a batch)"""
        was_done = state.done > 0
        steps = nxt.info["steps"] + jnp.where(was_done, 0, 1).astype(jnp.int32)
        out_of_time = steps >= self.episode_length
        truncation = jnp.where(was_done, nxt.info["truncation"],
                               (out_of_time & (nxt.done == 0)).astype(nxt.done.dtype))
        done = jnp.maximum(nxt.done, out_of_time.astype(nxt.done.dtype))
        return nxt.replace(done=done, info={**nxt.info, "steps": steps, "truncation": truncation})


class ActionRepeatWrapper(Wrapper):
    """Applies each action for `repeat` physics steps and sums the rewards."""

    def __init__(self, env: Env, repeat: int):
        if not isinstance(repeat, (int, np.integer)) or repeat < 1:
            raise ValueError(f"action_repeat: expected a positive int, got {repeat!r}")
        super().__init__(env)
        self.repeat = int(repeat)

    def step(self, state: State, action) -> State:
        return self._repeat(self.env.step, state, action)

    def step_batch(self, state: State, action, params=None) -> State:
        return self._repeat(lambda s, a: self.env.step_batch(s, a, params), state, action)

    def _repeat(self, step, state: State, action) -> State:
        if self.repeat == 1:
            return step(state, action)

        def one(carry, _):
            s, total = carry
            s = step(s, action)
            return (s, jax.tree_util.tree_map(jnp.add, total, s.reward)), None

        zero = jax.tree_util.tree_map(jnp.zeros_like, state.reward)
        (nxt, total), _ = jax.lax.scan(one, (state, zero), None, length=self.repeat)
        return nxt.replace(reward=total)


class VmapWrapper(Wrapper):
    """A batch of `batch_size` independent members, stepped together through the
    wrapped env's `step_batch` / `reset_batch` (a `vmap` unless the env steps
    batches itself, see `Env.step_batch`).

    `reset(rng)` takes one key (split into `batch_size`) or one key per member.
    With `params` (a pytree whose leaves have a leading `batch_size` axis) each
    member runs with its own physical constants; see `domain_randomize`.
    """

    def __init__(self, env: Env, batch_size: int, params=None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        if env.batch_size is not None:
            raise ValueError(f"batch_size: env is already batched (batch_size={env.batch_size})")
        super().__init__(env)
        self._batch_size = int(batch_size)
        if params is not None:
            for path, leaf in jax.tree_util.tree_leaves_with_path(params):
                if jnp.ndim(leaf) < 1 or jnp.shape(leaf)[0] != batch_size:
                    raise ValueError(
                        f"params{jax.tree_util.keystr(path)}: expected a leading batch axis of "
                        f"{batch_size}, got shape {jnp.shape(leaf)}")
        self._params = params

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def params(self):
        return self.env.params if self._params is None else self._params

    def with_params(self, params) -> Env:
        return VmapWrapper(self.env, self._batch_size, params)

    def reset(self, rng) -> State:
        if not is_key_batch(rng):
            rng = jax.random.split(rng, self._batch_size)
        if jnp.shape(rng)[0] != self._batch_size:
            raise ValueError(f"reset(rng): expected {self._batch_size} keys, got {jnp.shape(rng)[0]}")
        return self.env.reset_batch(rng, self._params)

    def step(self, state: State, action) -> State:
        for path, leaf in jax.tree_util.tree_leaves_with_path(action):
            if jnp.ndim(leaf) < 1 or jnp.shape(leaf)[0] != self._batch_size:
                raise ValueError(f"action{jax.tree_util.keystr(path)}: expected a leading batch "
                                 f"axis of {self._batch_size}, got shape {jnp.shape(leaf)}")
        return self.env.step_batch(state, action, self._params)

    def scripted_action(self, state: State):
        return vmap_members(self.env, "scripted_action", self._params)(state)

    def render(self, state: State) -> np.ndarray:
        """Renders member 0 of the batch."""
        return self.env.render(jax.tree_util.tree_map(lambda x: x[0], state))


def domain_randomize(env: Env, randomize_fn: Callable, batch_size: int, rng=None) -> VmapWrapper:
    """A batch whose member `i` runs with `randomize_fn(key_i, env.params)`.

    `randomize_fn(rng, params) -> params` returns a pytree of the same structure;
    for example scaling a mass by a uniform factor in [0.8, 1.2].
    """
    if env.params is None:
        raise ValueError(f"{type(env.unwrapped).__name__} has no physical params to randomise")
    rng = jax.random.PRNGKey(0) if rng is None else rng
    keys = jax.random.split(rng, batch_size)
    params = jax.vmap(randomize_fn, in_axes=(0, None))(keys, env.params)
    want = jax.tree_util.tree_structure(env.params)
    if jax.tree_util.tree_structure(params) != want:
        raise ValueError(f"randomize_fn: expected params with structure {want}, "
                         f"got {jax.tree_util.tree_structure(params)}")
    return VmapWrapper(env, batch_size, params)


class AutoResetWrapper(Wrapper):
    """Starts a new episode in the same step that one ends.

    A finished member gets a fresh initial state from `reset` with the next key
    of its own key stream (`info["rng"]`), so every episode starts from a new
    random state. `cached=True` instead restores the member's first state of
    the run: cheaper (no reset computation) but every episode of that member
    then starts identically.

    The returned state of a finished member has the fresh `obs` and
    `pipeline_state`, the step's `reward`, `done`, `metrics` and transition
    info (`truncation`, `invalid_action`), and `info["final_obs"]` holding the
    observation the episode ended on. Its `done` is cleared at the next step.
    """

    def __init__(self, env: Env, cached: bool = False):
        super().__init__(env)
        self.cached = bool(cached)

    def _batched(self) -> bool:
        return self.env.batch_size is not None

    def reset(self, rng) -> State:
        if jax.dtypes.issubdtype(jnp.asarray(rng).dtype if not isinstance(rng, jax.Array)
                                 else rng.dtype, jax.dtypes.prng_key):
            rng = jax.random.key_data(rng)
        batched = self._batched()
        if batched and not is_key_batch(rng):
            rng = jax.random.split(rng, self.env.batch_size)
        rng, sub = split_keys(rng, batched)
        state = self.env.reset(sub)
        info = {**state.info, "rng": rng, "final_obs": state.obs}
        if self.cached:
            info["first"] = (state.pipeline_state, state.obs,
                             {k: v for k, v in state.info.items() if k not in TRANSITION_INFO})
        return state.replace(info=info)

    def step(self, state: State, action) -> State:
        state = state.replace(done=jnp.zeros_like(state.done))
        nxt = self.env.step(state, action)
        done = nxt.done > 0
        if not self._batched():
            done = jnp.reshape(done, (1,))
            squeeze = lambda t: jax.tree_util.tree_map(lambda x: x[None], t)  # noqa: E731
            unsqueeze = lambda t: jax.tree_util.tree_map(lambda x: x[0], t)  # noqa: E731
        else:
            squeeze = unsqueeze = lambda t: t  # noqa: E731

        inner_info = {k: v for k, v in nxt.info.items()
                      if k not in TRANSITION_INFO + ("rng", "final_obs", "first")}
        current = (nxt.pipeline_state, nxt.obs, inner_info, nxt.info["rng"])

        def fresh(_):
            if self.cached:
                pipeline, obs, info = nxt.info["first"]
                return pipeline, obs, info, nxt.info["rng"]
            rng, sub = split_keys(nxt.info["rng"], self._batched())
            start = self.env.reset(sub)
            info = {k: v for k, v in start.info.items() if k not in TRANSITION_INFO}
            return start.pipeline_state, start.obs, info, rng

        def restart(_):
            return unsqueeze(where_members(done, squeeze(like(fresh(None), current)), squeeze(current)))

        pipeline, obs, info, rng = jax.lax.cond(jnp.any(done), restart, lambda _: current, None)
        info = {**nxt.info, **info, "rng": rng, "final_obs": nxt.obs}
        return nxt.replace(pipeline_state=pipeline, obs=obs, info=info)
