"""Host-side recovery from neighbour-list overflow in env rollouts.

Inside `jit` an overflowing neighbour list only sets a flag
(`metrics["overflow"]`). `rollout` runs jitted chunks of steps; when a chunk
overflowed it grows every neighbour list (a copy of the env with larger
capacities, and each list in the pre-chunk state rebuilt at its reference
positions, so the skin rule still holds) and runs the chunk again. The caller
gets the grown env back and keeps using it.
"""

from __future__ import annotations

import weakref
from typing import Callable

import jax
import numpy as np

from gambol.envs.base import Env, State
from gambol.physics.partition import NeighborList


def grow_neighbor_lists(env: Env, state: State, factor: float = 2.0) -> tuple[Env, State]:
    """A copy of `env` with `factor` x larger lists, and `state` with its lists rebuilt to fit."""
    base = env.unwrapped
    if not hasattr(base, "with_capacity"):
        raise TypeError(f"{type(base).__name__} has no neighbour lists to grow")
    grown = env.map_unwrapped(lambda e: e.with_capacity(factor))
    template = grown.unwrapped.template
    rebuild = None if template is None else grown.unwrapped.neighbor_fn.rebuild

    def regrow(nbrs):
        if not isinstance(nbrs, NeighborList):
            return nbrs
        if template is None:          # grown past every other boid: the env now uses all pairs
            return None
        fn = lambda R: rebuild(R, template)  # noqa: E731
        for _ in range(nbrs.reference_position.ndim - 2):   # batch axes
            fn = jax.vmap(fn)
        return jax.jit(fn)(nbrs.reference_position)

    state = jax.tree_util.tree_map(regrow, state, is_leaf=lambda x: isinstance(x, NeighborList))
    return grown, state


_RUNNERS: "weakref.WeakKeyDictionary[Env, dict]" = weakref.WeakKeyDictionary()


def _runner(env: Env, length: int, action_fn: Callable | None):
    """The jitted chunk for (env, length, action_fn), compiled once and kept while env lives."""
    cache = _RUNNERS.setdefault(env, {})
    if (length, action_fn) not in cache:
        act = action_fn or env.scripted_action

        def run(s):
            def body(s, _):
                s = env.step(s, act(s))
                return s, s.metrics
            return jax.lax.scan(body, s, None, length=length)
        cache[(length, action_fn)] = jax.jit(run)
    return cache[(length, action_fn)]


def rollout(env: Env, state: State, num_steps: int, action_fn: Callable | None = None,
            chunk: int = 100, max_retries: int = 6):
    """Step `num_steps` times in jitted chunks, redoing any chunk whose lists overflowed.

    `action_fn(state) -> action` is traced into the chunk (default: the env's
    `scripted_action`). Returns `(env, state, metrics)` with `metrics` stacked
    over steps (`[num_steps, ...]`), and `env` possibly grown.
    """
    history = []
    done = 0
    while done < num_steps:
        length = min(chunk, num_steps - done)
        for attempt in range(max_retries + 1):
            nxt, metrics = _runner(env, length, action_fn)(state)
            if not np.any(np.asarray(metrics.get("overflow", 0))):
                break
            if attempt == max_retries:
                raise RuntimeError(f"neighbour lists still overflow after {max_retries} doublings")
            env, state = grow_neighbor_lists(env, state)
        state = nxt
        history.append(metrics)
        done += length
    return env, state, jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *history)
