"""Swing-up pendulum: a uniform rod pivoting at one end, driven by a bounded torque.

The simplest smooth env in gambol, with the same dynamics, bounds, reward and
initial distribution as gymnasium's `Pendulum-v1` (so the two agree step for
step), except for the action's scale: gambol's action is the torque divided
by `max_torque` (2 N m by default), in [-1, 1], where gymnasium's action is the
torque itself, in [-2, 2]: gambol's action `a` applies the torque `max_torque * a`,
which Pendulum-v1 takes as the action `2 a`. Episodes
last 200 steps unless told otherwise (`default_episode_length`, as Pendulum-v1's
`max_episode_steps`). The angle `theta` is measured from upright; the rod's potential energy
is `U = m g (l/2) cos(theta)` and its moment of inertia about the pivot
`I = m l^2 / 3`, so `I theta'' = -dU/dtheta + u`. One step is semi-implicit
Euler with the angular speed clipped to `max_speed`.

obs:    [cos(theta), sin(theta), theta_dot]            (3)
action: [torque / max_torque] in [-1, 1]              (1)
reward: -(wrap(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2)
No termination: episodes end by the time limit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.envs.base import Box, Env, State
from gambol.envs.render import figure, to_rgb
from gambol.physics import quantity


@struct.dataclass
class PendulumParams:
    gravity: float = 10.0
    mass: float = 1.0
    length: float = 1.0
    dt: float = 0.05


@struct.dataclass
class PendulumState:
    theta: jax.Array       # [] angle from upright
    theta_dot: jax.Array   # [] angular velocity


def _wrap(theta):
    return jnp.mod(theta + jnp.pi, 2 * jnp.pi) - jnp.pi


class Pendulum(Env):
    version = "1"
    default_episode_length = 200         # gymnasium's Pendulum-v1 max_episode_steps

    def __init__(self, max_speed: float = 8.0, max_torque: float = 2.0,
                 params: PendulumParams | None = None):
        self.max_speed = float(max_speed)
        self.max_torque = float(max_torque)
        self.params = PendulumParams() if params is None else params
        self.observation_spec = Box((3,), low=[-1.0, -1.0, -self.max_speed],
                                    high=[1.0, 1.0, self.max_speed])
        self.action_spec = Box((1,), low=-1.0, high=1.0)

    def potential(self, theta, params: PendulumParams):
        """U(theta) = m g (l/2) cos(theta)."""
        return params.mass * params.gravity * params.length / 2 * jnp.cos(theta)

    def _obs(self, s: PendulumState):
        return jnp.stack([jnp.cos(s.theta), jnp.sin(s.theta), s.theta_dot]).astype(jnp.float32)

    def _reset(self, rng) -> State:
        k1, k2 = jax.random.split(rng)
        s = PendulumState(theta=jax.random.uniform(k1, (), minval=-jnp.pi, maxval=jnp.pi),
                          theta_dot=jax.random.uniform(k2, (), minval=-1.0, maxval=1.0))
        zero = jnp.zeros(())
        return State(s, self._obs(s), zero, zero,
                     metrics={"angle_cost": zero, "speed_cost": zero, "control_cost": zero})

    def _step(self, state: State, action) -> State:
        p, s, u = self.params, state.pipeline_state, self.max_torque * action[0]
        inertia = p.mass * p.length ** 2 / 3
        torque = quantity.force(lambda th: self.potential(th, p))(s.theta) + u
        theta_dot = jnp.clip(s.theta_dot + torque / inertia * p.dt, -self.max_speed, self.max_speed)
        nxt = PendulumState(theta=s.theta + theta_dot * p.dt, theta_dot=theta_dot)
        terms = {"angle_cost": _wrap(s.theta) ** 2, "speed_cost": 0.1 * s.theta_dot ** 2,
                 "control_cost": 0.001 * u ** 2}
        reward = -(terms["angle_cost"] + terms["speed_cost"] + terms["control_cost"])
        return state.replace(pipeline_state=nxt, obs=self._obs(nxt), reward=reward,
                             metrics={**state.metrics, **terms})

    def render(self, state: State) -> np.ndarray:
        theta = float(state.pipeline_state.theta)
        fig, ax = figure()
        ax.set_xlim(-1.2, 1.2)
        ax.set_ylim(-1.2, 1.2)
        ax.plot([0, np.sin(theta)], [0, np.cos(theta)], lw=8, color="tab:red", solid_capstyle="round")
        ax.plot([0], [0], "o", color="black")
        return to_rgb(fig)
