"""Acting in an env with a policy, inside jit: one step, an unroll, an evaluation.
(Setting a trainer up lives in `training.setup`, its host loop in `training.loop`.)

A `Transition` holds what every trainer learns from. With an auto-resetting
env, `next_obs` is the observation the step reached (`info["final_obs"]`),
not the first observation of the next episode, so value targets bootstrap
from the right state; `truncation` says the episode ended by the time limit
(bootstrap) rather than by termination (do not).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from gambol import agents
from gambol.envs.base import Env, State


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


# -- helpers for the learner side ------------------------------------------------------

def update_obs_stats(stats, obs, frozen: bool):
    """`agents.update_stats` for one `RunningStats` or a dict of them keyed by team."""
    return jax.tree.map(lambda s, o: agents.update_stats(s, o, frozen), stats, obs,
                        is_leaf=lambda x: isinstance(x, agents.RunningStats))
