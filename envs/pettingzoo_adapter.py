"""A PettingZoo `ParallelEnv` over one multi-agent gambol env (the `pettingzoo` extra).

Agent ids are `f"{team}_{i}"` (`predator_0`, `prey_2`, ...), in team order.
Each step is one jitted device call; observations, rewards and flags come back
as numpy per agent. All agents finish together, since `done` is per env: on the
step that ends the episode every agent is terminated (or truncated, by the time
limit) and `agents` becomes empty until `reset`.

Actions: every live agent needs one (a missing or unknown id raises `KeyError`);
each is checked for shape and finiteness like the gymnasium adapter's, and
clipped to the bounds by the env.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

try:
    from pettingzoo import ParallelEnv
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("to_pettingzoo needs PettingZoo: pip install 'gambol[multiagent]'") from err

from gambol.envs.base import Env
from gambol.envs.gymnasium_adapter import _host_action, _space, _unbatched


class PettingZooEnv(ParallelEnv):
    metadata = {"render_modes": ["rgb_array"], "name": "gambol", "is_parallelizable": True,
                "render_fps": 20}

    def __init__(self, env: Env, render_mode: str | None = None):
        if not env.is_multi_agent:
            raise ValueError(f"{type(env.unwrapped).__name__} is single-agent; use to_gymnasium")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        self.env, self.render_mode = env, render_mode
        self.metadata = {**self.metadata, "name": f"gambol/{type(env.unwrapped).__name__}"}
        self.possible_agents = [f"{t}_{i}" for t, n in env.agents.items() for i in range(n)]
        self._slot = {a: (t, i) for t, n in env.agents.items() for i, a in
                      enumerate(f"{t}_{j}" for j in range(n))}
        self.agents: list[str] = []
        self._reset_fn = jax.jit(env.reset)
        self._step_fn = jax.jit(env.step)
        self._state = self._key = None

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str):
        return _space(self.env.observation_spec[self._team(agent)])

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str):
        return _space(self.env.action_spec[self._team(agent)])

    def _team(self, agent: str) -> str:
        if agent not in self._slot:
            raise KeyError(f"unknown agent {agent!r}; agents are {self.possible_agents}")
        return self._slot[agent][0]

    def _per_agent(self, by_team: dict) -> dict:
        return {a: by_team[t][i] for a, (t, i) in self._slot.items()}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._key = jax.random.PRNGKey(seed)
        elif self._key is None:
            self._key = jax.random.PRNGKey(int(np.random.default_rng().integers(2 ** 31)))
        self._key, sub = jax.random.split(self._key)
        self._state = self._reset_fn(sub)
        self.agents = list(self.possible_agents)
        obs = jax.device_get(self._state.obs)
        return ({a: np.array(o, np.float32) for a, o in self._per_agent(obs).items()},
                {a: {} for a in self.agents})

    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        unknown = sorted(set(actions) - set(self.possible_agents))
        missing = sorted(set(self.agents) - set(actions))
        if unknown or missing:
            raise KeyError(f"actions: unknown agents {unknown}, missing agents {missing}")
        team_actions = {t: np.zeros((n,) + self.env.action_spec[t].shape, np.float32)
                        for t, n in self.env.agents.items()}
        for agent, action in actions.items():
            team, i = self._slot[agent]
            team_actions[team][i] = _host_action(action, self.action_space(agent))
        self._state = self._step_fn(self._state, team_actions)
        obs, reward, done, truncation = jax.device_get(
            (self._state.obs, self._state.reward, self._state.done,
             self._state.info.get("truncation", jnp.zeros(()))))
        truncated = bool(truncation > 0)
        terminated = bool(done > 0) and not truncated
        live = self.agents
        out_obs = {a: np.array(o, np.float32) for a, o in self._per_agent(obs).items() if a in live}
        out_rew = {a: float(r) for a, r in self._per_agent(reward).items() if a in live}
        out = (out_obs, out_rew, {a: terminated for a in live}, {a: truncated for a in live},
               {a: {} for a in live})
        if terminated or truncated:
            self.agents = []
        return out

    def render(self):
        if self.render_mode != "rgb_array" or self._state is None:
            return None
        return self.env.render(self._state)

    def state(self) -> np.ndarray:
        """The global observation: every agent's observation, concatenated."""
        obs = jax.device_get(self._state.obs)
        return np.concatenate([np.asarray(obs[t], np.float32).ravel() for t in self.env.agents])


def to_pettingzoo(env_or_name, render_mode: str | None = None, **kwargs) -> PettingZooEnv:
    """A `pettingzoo.ParallelEnv` over one multi-agent env (a name goes through `create`)."""
    return PettingZooEnv(_unbatched(env_or_name, kwargs), render_mode=render_mode)
