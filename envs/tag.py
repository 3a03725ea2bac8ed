"""Tag: predators chase prey in a periodic square; the smallest two-team env.

Point masses with drag and a speed limit move in `space.periodic(box_size)`;
each agent chooses an acceleration in [-1, 1]^2 (scaled per team). A prey is
caught while some predator is within `capture_radius`; a caught prey stays in
play (no respawn), so captures are counted every step it is within reach.

obs[team]:    [agents, 2 + 2 (n - 1)]: own velocity, then the minimum-image
              displacement to every other agent (predators first, then prey).
action[team]: [agents, 2] in [-1, 1].
reward:       predator i: +1 for each prey within its capture radius;
              prey j: -1 while caught.
No termination: episodes end by the time limit.
`scripted_action`: predators accelerate at the nearest prey, prey away from the
nearest predator.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.envs.base import Box, Env, State
from gambol.envs.render import figure, to_rgb
from gambol.physics import space

TEAMS = ("predator", "prey")


@struct.dataclass
class TagParams:
    dt: float = 0.1
    drag: float = 0.25
    capture_radius: float = 0.15
    predator_accel: float = 2.0
    prey_accel: float = 3.0
    predator_speed: float = 1.3
    prey_speed: float = 1.0


@struct.dataclass
class TagState:
    position: jax.Array   # [n, 2], predators first
    velocity: jax.Array   # [n, 2]


def _unit(v):
    return v / jnp.maximum(jnp.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


class Tag(Env):
    version = "1"

    def __init__(self, num_predators: int = 2, num_prey: int = 3, box_size: float = 2.0,
                 params: TagParams | None = None):
        for name, value in (("num_predators", num_predators), ("num_prey", num_prey)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        self.agents = {"predator": int(num_predators), "prey": int(num_prey)}
        self.n = int(num_predators) + int(num_prey)
        self.box_size = float(box_size)
        self.params = TagParams() if params is None else params
        self.displacement, self.shift = space.periodic(self.box_size)
        obs = Box((2 + 2 * (self.n - 1),))
        self.observation_spec = {t: obs for t in TEAMS}
        self.action_spec = {t: Box((2,), low=-1.0, high=1.0) for t in TEAMS}
        # others[i]: every agent index but i, in order
        self._others = np.array([[j for j in range(self.n) if j != i] for i in range(self.n)])

    def _split(self, x):
        k = self.agents["predator"]
        return {"predator": x[:k], "prey": x[k:]}

    def _pairwise(self, s: TagState):
        return space.map_pair(self.displacement)(s.position, s.position)   # [n, n, 2]: R_i - R_j

    def _obs(self, s: TagState):
        dR = self._pairwise(s)
        to_others = -dR[np.arange(self.n)[:, None], self._others]           # [n, n-1, 2]: R_j - R_i
        obs = jnp.concatenate([s.velocity, to_others.reshape(self.n, -1)], axis=1)
        return self._split(obs.astype(jnp.float32))

    def _reset(self, rng) -> State:
        s = TagState(position=jax.random.uniform(rng, (self.n, 2), maxval=self.box_size),
                     velocity=jnp.zeros((self.n, 2)))
        zero = {t: jnp.zeros(c) for t, c in self.agents.items()}
        return State(s, self._obs(s), zero, jnp.zeros(()), metrics={"captures": jnp.zeros(())})

    def _step(self, state: State, action) -> State:
        p, s = self.params, state.pipeline_state
        accel = jnp.concatenate([p.predator_accel * action["predator"], p.prey_accel * action["prey"]])
        limit = jnp.concatenate([jnp.full(self.agents["predator"], p.predator_speed),
                                 jnp.full(self.agents["prey"], p.prey_speed)])[:, None]
        v = s.velocity * (1 - p.drag * p.dt) + p.dt * accel
        speed = jnp.linalg.norm(v, axis=-1, keepdims=True)
        v = jnp.where(speed > limit, v * limit / jnp.maximum(speed, 1e-12), v)
        nxt = TagState(position=self.shift(s.position, p.dt * v), velocity=v)
        k = self.agents["predator"]
        dist = space.distance(self._pairwise(nxt)[:k, k:])                  # [predators, prey]
        within = (dist < p.capture_radius).astype(jnp.float32)
        caught = jnp.max(within, axis=0)
        reward = {"predator": jnp.sum(within, axis=1), "prey": -caught}
        return state.replace(pipeline_state=nxt, obs=self._obs(nxt), reward=reward,
                             metrics={**state.metrics, "captures": jnp.sum(caught)})

    def scripted_action(self, state: State):
        dR = self._pairwise(state.pipeline_state)
        k = self.agents["predator"]
        d_pred_prey = dR[:k, k:]                                            # pred - prey
        nearest_prey = jnp.argmin(space.distance(d_pred_prey), axis=1)
        chase = -d_pred_prey[jnp.arange(k), nearest_prey]
        d_prey_pred = dR[k:, :k]                                            # prey - pred
        nearest_pred = jnp.argmin(space.distance(d_prey_pred), axis=1)
        flee = d_prey_pred[jnp.arange(self.agents["prey"]), nearest_pred]
        return {"predator": _unit(chase), "prey": _unit(flee)}

    def render(self, state: State) -> np.ndarray:
        R = np.asarray(state.pipeline_state.position)
        k = self.agents["predator"]
        fig, ax = figure()
        ax.set_xlim(0, self.box_size)
        ax.set_ylim(0, self.box_size)
        ax.scatter(*R[k:].T, s=60, color="tab:blue")
        ax.scatter(*R[:k].T, s=120, color="tab:red", marker="^")
        return to_rgb(fig)
