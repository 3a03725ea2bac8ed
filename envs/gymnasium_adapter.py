"""gymnasium adapters: numpy at the boundary, one jitted device call per step inside.

- `to_gymnasium(env_or_name)`: a `gymnasium.Env` over one member; for a
  multi-agent env, `team=` controls that team's agents jointly (observations
  and actions concatenated over its agents, the reward their mean; other teams
  follow `env.scripted_action`).
- `to_gymnasium_vector(env_or_name, num_envs)`: a `gymnasium.vector.VectorEnv`
  whose step is one device call for the whole batch (step and any resets).
- `to_gymnasium_vector(env_or_name, num_envs, team="prey")`: the shared-policy
  view of a multi-agent env; slot `b * agents[team] + i` is agent `i` of member
  `b`. Teams the learner does not drive follow `env.scripted_action`.

Actions: any real numeric array of the action space's shape is cast to float32;
values outside the bounds are clipped (the env contract); a wrong shape or a
non-finite value raises `ValueError` before anything reaches the device.
Stepping a finished single env before `reset()` raises `RuntimeError`.

Registration: every registered env is a gymnasium id `gambol/<name>-v<version>`
(`register_gymnasium`; `gambol.envs.register` calls it) with
`max_episode_steps` the env's default episode length, so rl-zoo or CleanRL
`--env-id gambol/ant-v2` work; a multi-agent env's id controls its first team
(`gymnasium.make("gambol/tag-v1", team="prey")` picks another).

Rendering: `render_mode="rgb_array"` returns frames; `"human"` shows each step
in a matplotlib window. The adapters pickle (their compiled functions are
rebuilt on unpickling), so subprocess vector envs can ship them.

Seeding: `reset(seed=s)` starts the key stream `PRNGKey(s)` (member `i` of a
vector env: `PRNGKey(s + i)`, as `SyncVectorEnv` seeds its copies); each later
reset draws the next key of that stream. So a vector env and a `SyncVectorEnv`
of single adapters seeded alike produce the same episodes.
"""

from __future__ import annotations

from typing import Any

import re

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode

from gambol.envs.base import Box, Env, like, split_keys
from gambol.envs import registry
from gambol.envs.registry import create
from gambol.envs.wrappers import AutoResetWrapper, VmapWrapper, where_members


def _space(box: Box) -> gymnasium.spaces.Box:
    return gymnasium.spaces.Box(low=box.low.astype(np.float32), high=box.high.astype(np.float32),
                                shape=box.shape, dtype=np.float32)


def _chain(env: Env):
    while True:
        yield env
        if not hasattr(env, "env"):
            return
        env = env.env


def _unbatched(env_or_name, kwargs: dict) -> Env:
    """An unbatched env without auto-reset (the adapters reset members themselves)."""
    if isinstance(env_or_name, str):
        return create(env_or_name, batch_size=None, auto_reset=False, **kwargs)
    if kwargs:
        raise TypeError(f"keyword arguments {sorted(kwargs)} only apply when an env name is given")
    if not isinstance(env_or_name, Env):
        raise TypeError(f"expected a gambol Env or a registered name, got {type(env_or_name).__name__}")
    for layer in _chain(env_or_name):
        if isinstance(layer, (VmapWrapper, AutoResetWrapper)):
            raise ValueError(f"the adapters batch and reset envs themselves; pass an env without "
                             f"{type(layer).__name__} (got {env_or_name!r})")
    return env_or_name


def _host_action(action, space: gymnasium.spaces.Box) -> np.ndarray:
    a = np.asarray(action)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"action: expected a real numeric array, got dtype {a.dtype}")
    if a.shape != space.shape:
        raise ValueError(f"action: expected shape {space.shape}, got {a.shape}")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"action: contains non-finite values: {a}")
    return a


def _metrics_info(metrics: dict, i: int | None = None) -> dict:
    return {k: np.float32(v if i is None else v[i]) for k, v in metrics.items()}


RENDER_MODES = (None, "rgb_array", "human")


def _check_render_mode(render_mode):
    if render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode: expected one of {list(RENDER_MODES)}, got {render_mode!r}")


def _check_team(env: Env, team: str | None, view: str):
    if team is not None and (not env.is_multi_agent or team not in env.agents):
        raise ValueError(f"team: expected one of {sorted(env.agents or {})}, got {team!r}")
    if env.is_multi_agent and team is None:
        raise ValueError(f"{type(env.unwrapped).__name__} is multi-agent ({env.agents}); pass team= "
                         f"one of {sorted(env.agents)} for {view}, or use to_pettingzoo")


class _HumanWindow:
    """A matplotlib window showing the latest frame (`render_mode="human"`)."""

    def __init__(self, fps: float):
        self.fps, self.figure, self.image = fps, None, None

    def show(self, frame: np.ndarray) -> None:
        import matplotlib.pyplot as plt
        if self.figure is None or not plt.fignum_exists(self.figure.number):
            self.figure = plt.figure("gambol")
            self.image = self.figure.add_subplot().imshow(frame)
            self.figure.axes[0].set_axis_off()
            plt.show(block=False)
        else:
            self.image.set_data(frame)
        self.figure.canvas.draw_idle()
        self.figure.canvas.flush_events()

    def close(self) -> None:
        if self.figure is not None:
            import matplotlib.pyplot as plt
            plt.close(self.figure)
            self.figure = None


class _Picklable:
    """Pickles without the jitted functions (`_compiled` names them); `_compile`
    rebuilds them after unpickling."""

    _compiled: tuple[str, ...] = ()

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in self._compiled}
        state["_window"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._compile()


class GymnasiumEnv(_Picklable, gymnasium.Env):
    """One gambol env as a `gymnasium.Env`; `info` carries the env's metrics.

    With `team` (multi-agent envs), the observation is the team's agents'
    observations concatenated `[agents * obs]`, the action `[agents * act]`
    (agent `i` owns entries `i * act ... (i + 1) * act`), the reward the mean of
    the team's rewards; the other teams follow `env.scripted_action`.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 20, "jax": False}
    _compiled = ("_reset_fn", "_step_fn")

    def __init__(self, env: Env, render_mode: str | None = None, team: str | None = None):
        _check_team(env, team, "a joint view of that team")
        _check_render_mode(render_mode)
        self.env, self.team = env, team
        self.render_mode = render_mode
        obs_box = env.observation_spec if team is None else env.observation_spec[team]
        act_box = env.action_spec if team is None else env.action_spec[team]
        self.agents_per_env = 1 if team is None else env.agents[team]
        self.observation_space = _space(_tiled(obs_box, self.agents_per_env))
        self.action_space = _space(_tiled(act_box, self.agents_per_env))
        self._key = None
        self._state = None
        self._finished = False
        self._window = None
        self._compile()

    def _compile(self):
        self._reset_fn = jax.jit(self.env.reset)
        self._step_fn = jax.jit(self._device_step)

    def _device_step(self, state, action):
        if self.team is not None:
            shape = (self.agents_per_env,) + self.env.action_spec[self.team].shape
            action = {**self.env.scripted_action(state), self.team: action.reshape(shape)}
        return self.env.step(state, action)

    def _host_obs(self, obs) -> np.ndarray:
        return np.array(obs if self.team is None else obs[self.team], dtype=np.float32).reshape(
            self.observation_space.shape)

    def _host_reward(self, reward) -> float:
        return float(reward if self.team is None else np.mean(reward[self.team]))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.PRNGKey(seed)
        elif self._key is None:
            self._key = jax.random.PRNGKey(int(self.np_random.integers(2 ** 31)))
        self._key, sub = jax.random.split(self._key)
        self._state = self._reset_fn(sub)
        self._finished = False
        if self.render_mode == "human":
            self.render()
        return self._host_obs(jax.device_get(self._state.obs)), {}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("step() called before reset()")
        if self._finished:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        a = _host_action(action, self.action_space)
        self._state = self._step_fn(self._state, a)
        obs, reward, done, truncation, metrics = jax.device_get(
            (self._state.obs, self._state.reward, self._state.done,
             self._state.info.get("truncation", jnp.zeros(())), self._state.metrics))
        truncated = bool(truncation > 0)
        terminated = bool(done > 0) and not truncated
        self._finished = terminated or truncated
        if self.render_mode == "human":
            self.render()
        return (self._host_obs(obs), self._host_reward(reward), terminated, truncated,
                _metrics_info(metrics))

    def render(self):
        if self.render_mode is None or self._state is None:
            return None
        frame = self.env.render(self._state)
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = _HumanWindow(self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def close(self):
        if self._window is not None:
            self._window.close()


def _tiled(box: Box, count: int) -> Box:
    """`box` repeated `count` times along its only axis."""
    if count == 1:
        return box
    return Box((count * box.shape[0],), low=np.tile(box.low, count), high=np.tile(box.high, count))


def to_gymnasium(env_or_name, render_mode: str | None = None, team: str | None = None,
                 **kwargs) -> GymnasiumEnv:
    """A `gymnasium.Env` over one env (a name is built with `create(name, **kwargs)`);
    `team`: the team a multi-agent env's view controls (see `GymnasiumEnv`)."""
    return GymnasiumEnv(_unbatched(env_or_name, kwargs), render_mode=render_mode, team=team)


class GymnasiumVectorEnv(_Picklable, gymnasium.vector.VectorEnv):
    """A batch of one gambol env as a `gymnasium.vector.VectorEnv`.

    `autoreset_mode`: gymnasium's `NEXT_STEP` (default; the step after an
    episode ends returns the reset observation with zero reward) or
    `SAME_STEP` (the ending step returns the reset observation and puts the
    last one in `info["final_obs"]`, its info in `info["final_info"]`).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20,
                "autoreset_mode": AutoresetMode.NEXT_STEP}
    _compiled = ("_reset_fn", "_step_fn")

    def __init__(self, env: Env, num_envs: int, team: str | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 render_mode: str | None = None):
        mode = AutoresetMode(autoreset_mode) if isinstance(autoreset_mode, str) else autoreset_mode
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode: expected NEXT_STEP or SAME_STEP, got {autoreset_mode!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        if env.is_multi_agent and team is None and len(env.agents) == 1:
            team = next(iter(env.agents))          # one team: its agents are the slots
        _check_team(env, team, "the shared-policy view")
        self.env, self.team, self.render_mode = env, team, render_mode
        self.batch = int(num_envs)
        self.agents_per_env = 1 if team is None else env.agents[team]
        self.num_envs = self.batch * self.agents_per_env
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        obs_box = env.observation_spec if team is None else env.observation_spec[team]
        act_box = env.action_spec if team is None else env.action_spec[team]
        self.single_observation_space = _space(obs_box)
        self.single_action_space = _space(act_box)
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._batched = VmapWrapper(env, self.batch)
        self._state = self._keys = None
        self._needs_reset = np.zeros(self.batch, bool)
        self._compile()

    def _compile(self):
        self._reset_fn = jax.jit(self._device_reset)
        self._step_fn = jax.jit(self._device_step)

    # -- device side ---------------------------------------------------------------
    def _view(self, state):
        """(obs, reward, terminated, truncated) per slot."""
        obs, reward = state.obs, state.reward
        truncation = state.info.get("truncation", jnp.zeros_like(state.done)) > 0
        terminated = (state.done > 0) & ~truncation
        if self.team is not None:
            n = self.agents_per_env
            obs = obs[self.team].reshape(self.num_envs, -1)
            reward = reward[self.team].reshape(self.num_envs)
            terminated, truncation = (jnp.repeat(x, n) for x in (terminated, truncation))
        return obs, reward, terminated, truncation

    def _env_action(self, state, action):
        if self.team is None:
            return action
        scripted = self._batched.scripted_action(state)
        shape = (self.batch, self.agents_per_env) + self.single_action_space.shape
        return {**scripted, self.team: action.reshape(shape)}

    def _device_reset(self, keys):
        keys, sub = split_keys(keys, True)
        state = self._batched.reset(sub)
        return state, keys, self._view(state)[0]

    def _device_step(self, state, keys, action, reset_mask):
        stepped = self._batched.step(state, self._env_action(state, action))
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            reset_mask = stepped.done > 0
        obs, reward, terminated, truncated = self._view(stepped)

        def fresh(_):
            new_keys, sub = split_keys(keys, True)
            start = self._batched.reset(sub)
            return (where_members(reset_mask, like(start, stepped), stepped),
                    where_members(reset_mask, new_keys, keys))

        state, keys = jax.lax.cond(jnp.any(reset_mask), fresh, lambda _: (stepped, keys), None)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            slot = jnp.repeat(reset_mask, self.agents_per_env)
            reward = jnp.where(slot, 0.0, reward)
            terminated, truncated = terminated & ~slot, truncated & ~slot
            final_obs = obs
            obs = jnp.where(slot[:, None], self._view(state)[0], obs)
        else:
            final_obs, obs = obs, self._view(state)[0]
        n = self.agents_per_env
        metrics = [jnp.repeat(stepped.metrics[k], n) for k in sorted(stepped.metrics)]
        columns = [obs, reward[:, None], terminated[:, None], truncated[:, None]]
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            columns.append(final_obs)
        # one array, so the host fetches everything in a single transfer
        packed = jnp.concatenate([c.astype(jnp.float32) for c in columns]
                                 + [m[:, None].astype(jnp.float32) for m in metrics], axis=1)
        return state, keys, packed

    # -- gymnasium API -------------------------------------------------------------
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = gymnasium.utils.seeding.np_random(
                seed if isinstance(seed, int) else seed[0])
        seeds = seed if isinstance(seed, (list, tuple)) else (
            None if seed is None else [seed + i for i in range(self.batch)])
        if seeds is not None and len(seeds) != self.batch:
            raise ValueError(f"seed: expected {self.batch} seeds, got {len(seeds)}")
        if seeds is None and self._keys is None:
            seeds = [int(s) for s in self.np_random.integers(2 ** 31, size=self.batch)]
        keys = self._keys if seeds is None else jnp.stack([jax.random.PRNGKey(s) for s in seeds])
        self._state, self._keys, obs = self._reset_fn(keys)
        self._needs_reset = np.zeros(self.batch, bool)
        return np.array(obs, dtype=np.float32), {}

    def step(self, actions):
        if self._state is None:
            raise RuntimeError("step() called before reset()")
        a = _host_action(actions, self.action_space)
        self._state, self._keys, packed = self._step_fn(self._state, self._keys, a, self._needs_reset)
        packed = np.asarray(packed)
        d = self.single_observation_space.shape[0]
        obs, reward = packed[:, :d], packed[:, d]
        terminated, truncated = packed[:, d + 1] > 0, packed[:, d + 2] > 0
        final_obs = packed[:, d + 3:2 * d + 3] if self.autoreset_mode == AutoresetMode.SAME_STEP else None
        names = sorted(self._state.metrics)
        metrics = dict(zip(names, packed[:, packed.shape[1] - len(names):].T))
        ended = terminated | truncated
        infos = self._infos(metrics, ended, final_obs)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._needs_reset = ended.reshape(self.batch, self.agents_per_env)[:, 0].copy()
        return (np.array(obs, dtype=np.float32), reward.astype(np.float64), terminated.astype(bool),
                truncated.astype(bool), infos)

    def _infos(self, metrics: dict, ended: np.ndarray, final_obs: np.ndarray) -> dict[str, Any]:
        """Infos shaped as gymnasium's `_add_info` shapes them (values plus `_key` masks)."""
        n = self.agents_per_env
        per_slot = metrics
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            has = ~np.repeat(self._needs_reset, n)   # members reset this step report no metrics
        else:
            has = ~ended
        infos: dict[str, Any] = {}
        for k, v in per_slot.items():
            if has.any():
                infos[k], infos[f"_{k}"] = np.where(has, v, 0).astype(np.float32), has.copy()
        if self.autoreset_mode == AutoresetMode.SAME_STEP and ended.any():
            objs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(ended):
                objs[i] = np.array(final_obs[i], dtype=np.float32)
            final_info: dict[str, Any] = {}
            for k, v in per_slot.items():
                final_info[k], final_info[f"_{k}"] = np.where(ended, v, 0).astype(np.float32), ended.copy()
            infos.update({"final_obs": objs, "_final_obs": ended.copy(),
                          "final_info": final_info, "_final_info": ended.copy()})
        return infos

    def render(self):
        if self.render_mode != "rgb_array" or self._state is None:
            return None
        return tuple(self.env.render(jax.tree_util.tree_map(lambda x: x[b], self._state))
                     for b in range(self.batch))


def to_gymnasium_vector(env_or_name, num_envs: int, team: str | None = None,
                        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                        render_mode: str | None = None, **kwargs) -> GymnasiumVectorEnv:
    """A `gymnasium.vector.VectorEnv` of `num_envs` members (times `agents[team]` slots)."""
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs: expected a positive int, got {num_envs!r}")
    return GymnasiumVectorEnv(_unbatched(env_or_name, kwargs), num_envs, team=team,
                              autoreset_mode=autoreset_mode, render_mode=render_mode)


def gymnasium_version(name: str) -> str:
    """The version number of the registered env `name` ("ant-v2" -> "2"; none: "0")."""
    version = registry.version(name)
    match = re.fullmatch(r"(?:.*-v)?(\d+)", version)
    if match is None:
        raise ValueError(f"{name}: version {version!r} is not a number or NAME-vNUMBER")
    return match.group(1)


def _make_single(env_or_name: str, team: str | None = None, **kwargs) -> GymnasiumEnv:
    """gymnasium's entry point: `to_gymnasium`, a multi-agent env's first team by default."""
    render_mode = kwargs.pop("render_mode", None)
    env = _unbatched(env_or_name, kwargs)
    if env.is_multi_agent and team is None:
        team = next(iter(env.agents))
    return GymnasiumEnv(env, render_mode=render_mode, team=team)


def _make_vector(env_or_name: str, num_envs: int = 1, team: str | None = None,
                 **kwargs) -> GymnasiumVectorEnv:
    """gymnasium's vector entry point: `to_gymnasium_vector`, a multi-agent env's
    first team as shared-policy slots by default."""
    vector = {k: kwargs.pop(k) for k in ("autoreset_mode", "render_mode") if k in kwargs}
    steps = kwargs.pop("max_episode_steps", None)   # make_vec passes the spec's; episode_length wins
    if steps is not None:
        kwargs.setdefault("episode_length", steps)
    env = _unbatched(env_or_name, kwargs)
    if env.is_multi_agent and team is None:
        team = next(iter(env.agents))
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs: expected a positive int, got {num_envs!r}")
    return GymnasiumVectorEnv(env, num_envs, team=team, **vector)


def register_gymnasium(name: str, version: str | None = None) -> str:
    """Register the gambol env `name` with gymnasium as `gambol/{name}-v{version}`
    (`version`: the env's own, see `gymnasium_version`), with `max_episode_steps`
    its default episode length.

    Then `gymnasium.make("gambol/pendulum-v1", episode_length=100)` builds
    `to_gymnasium("pendulum", episode_length=100)` and `gymnasium.make_vec(id, n)`
    `to_gymnasium_vector(name, n)`; a multi-agent env controls its first team
    unless given `team=`. Returns the gymnasium id.
    """
    version = version or gymnasium_version(name)
    env_id = f"gambol/{name}-v{version}"
    if env_id not in gymnasium.registry:
        gymnasium.register(id=env_id, entry_point=_make_single, kwargs={"env_or_name": name},
                           vector_entry_point=_make_vector, disable_env_checker=True,
                           max_episode_steps=registry.default_episode_length(name))
    return env_id
