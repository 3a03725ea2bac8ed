"""A stable-baselines3 `VecEnv` over a batched gambol env (needs the `sb3` extra).

    from stable_baselines3 import PPO
    venv = gambol.envs.to_sb3_vecenv("pendulum", num_envs=16)
    PPO("MlpPolicy", venv).learn(100_000)

One compile and one device call per step for the whole batch: the step runs
through `to_gymnasium_vector(..., autoreset_mode="same_step")`, so a member whose
episode ends is reset in the same call, as SB3 expects, and its last observation
comes back in `infos[i]["terminal_observation"]` (with
`infos[i]["TimeLimit.truncated"]` when the time limit ended it). Each info also
carries the env's metrics. A multi-agent env needs `team=`: each agent of that
team is one slot (the shared-policy view). A `DummyVecEnv` of single adapters
instead compiles once per copy and calls the device once per copy per step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from gambol.envs.gymnasium_adapter import GymnasiumVectorEnv, to_gymnasium_vector


class SB3VecEnv(VecEnv):
    """SB3's `VecEnv` contract over a same-step-autoreset `GymnasiumVectorEnv`."""

    def __init__(self, vector: GymnasiumVectorEnv):
        if vector.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"vector: expected autoreset_mode SAME_STEP (SB3 resets in the ending "
                             f"step), got {vector.autoreset_mode}")
        self.vector = vector
        self._actions = None
        super().__init__(vector.num_envs, vector.single_observation_space, vector.single_action_space)

    def reset(self):
        seed = self._seeds[0]         # SB3's seed(s) sets seeds s + i; the batch seeds members alike
        obs, _ = self.vector.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, np.float32).reshape(self.vector.action_space.shape)

    def step_wait(self):
        obs, reward, terminated, truncated, info = self.vector.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        final = info.get("final_info", {})
        for key, values in info.items():
            if key.startswith("_") or key in ("final_obs", "final_info"):
                continue
            for i in np.flatnonzero(info[f"_{key}"]):
                infos[i][key] = values[i]
        for i in np.flatnonzero(dones):
            infos[i].update({k: v[i] for k, v in final.items() if not k.startswith("_")})
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.vector.close()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        """One shared env: every slot reports the vector env's attribute."""
        return [getattr(self.vector, attr_name)] * len(list(self._get_indices(indices)))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.vector, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        result = getattr(self.vector, method_name)(*method_args, **method_kwargs)
        return [result] * len(list(self._get_indices(indices)))

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))

    def get_images(self):
        frames = self.vector.render()
        if frames is None:
            return [None] * self.num_envs
        per_member = self.vector.agents_per_env    # a member's agents share its frame
        return [frame for frame in frames for _ in range(per_member)]


def to_sb3_vecenv(env_or_name, num_envs: int, team: str | None = None,
                  render_mode: str | None = None, **kwargs) -> SB3VecEnv:
    """An SB3 `VecEnv` of `num_envs` members (times `agents[team]` slots); a name is
    built with `gambol.envs.create(name, **kwargs)`."""
    return SB3VecEnv(to_gymnasium_vector(env_or_name, num_envs, team=team, render_mode=render_mode,
                                         autoreset_mode=AutoresetMode.SAME_STEP, **kwargs))
