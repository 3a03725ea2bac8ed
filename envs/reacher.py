"""Point-mass reacher: push a damped point mass in the plane onto a random target.

The mass follows `m dv/dt = F - m * damping * v`, integrated by semi-implicit
Euler in `gambol.physics.space.free()`, inside walls at `|x|, |y| = arena`
(a wall stops the velocity component into it) and with each velocity
component clipped to `max_speed`, so every observation is bounded. The episode terminates (success) once
the mass is within `target_radius` of the target, which pays `success_bonus`.

obs:    [position (2), velocity (2), target - position (2)]       (6)
action: force in [-1, 1]^2                                         (2)
reward: -|target - position| - control_cost |F|^2 + success_bonus * reached
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.envs.base import Box, Env, State
from gambol.envs.render import figure, to_rgb
from gambol.physics import space


@struct.dataclass
class ReacherParams:
    mass: float = 1.0
    damping: float = 1.0
    dt: float = 0.05
    control_cost: float = 0.01
    target_radius: float = 0.05
    success_bonus: float = 10.0


@struct.dataclass
class ReacherState:
    position: jax.Array   # [2]
    velocity: jax.Array   # [2]
    target: jax.Array     # [2]


class PointReacher(Env):
    version = "1"

    def __init__(self, arena: float = 1.0, max_speed: float = 2.0,
                 params: ReacherParams | None = None):
        self.arena = float(arena)
        self.max_speed = float(max_speed)
        self.params = ReacherParams() if params is None else params
        self.displacement, self.shift = space.free()
        a, v = self.arena, self.max_speed
        self.observation_spec = Box((6,), low=[-a, -a, -v, -v, -2 * a, -2 * a],
                                    high=[a, a, v, v, 2 * a, 2 * a])
        self.action_spec = Box((2,), low=-1.0, high=1.0)

    def _obs(self, s: ReacherState):
        to_target = self.displacement(s.target, s.position)
        return jnp.concatenate([s.position, s.velocity, to_target]).astype(jnp.float32)

    def _reset(self, rng) -> State:
        k1, k2 = jax.random.split(rng)
        a = self.arena
        s = ReacherState(position=jax.random.uniform(k1, (2,), minval=-a, maxval=a),
                         velocity=jnp.zeros(2),
                         target=jax.random.uniform(k2, (2,), minval=-a, maxval=a))
        zero = jnp.zeros(())
        return State(s, self._obs(s), zero, zero,
                     metrics={"distance": jnp.linalg.norm(s.target - s.position),
                              "control_cost": zero, "success": zero})

    def _step(self, state: State, action) -> State:
        p, s = self.params, state.pipeline_state
        velocity = s.velocity + p.dt * (action / p.mass - p.damping * s.velocity)
        velocity = jnp.clip(velocity, -self.max_speed, self.max_speed)
        moved = self.shift(s.position, p.dt * velocity)
        position = jnp.clip(moved, -self.arena, self.arena)
        velocity = jnp.where(position == moved, velocity, 0.0)   # walls stop the mass
        nxt = s.replace(position=position, velocity=velocity)
        distance = space.distance(self.displacement(nxt.target, nxt.position))
        reached = (distance < p.target_radius).astype(jnp.float32)
        control = p.control_cost * jnp.sum(action ** 2)
        reward = -distance - control + p.success_bonus * reached
        metrics = {"distance": distance, "control_cost": control, "success": reached}
        return state.replace(pipeline_state=nxt, obs=self._obs(nxt), reward=reward,
                             done=reached, metrics={**state.metrics, **metrics})

    def render(self, state: State) -> np.ndarray:
        from matplotlib.patches import Circle

        s = jax.tree_util.tree_map(np.asarray, state.pipeline_state)
        fig, ax = figure()
        a = self.arena * 1.3
        ax.set_xlim(-a, a)
        ax.set_ylim(-a, a)
        ax.add_patch(Circle(tuple(s.target), float(self.params.target_radius) * 2, color="tab:green"))
        ax.plot(*s.position, "o", color="tab:blue", ms=12)
        return to_rgb(fig)
