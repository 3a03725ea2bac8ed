"""Flocking environments: `boids`, `flock` and `predator_prey`, the agent layer over `FlockSim`.

`FlockEnv(learn=...)` simulates boids and predators in a periodic box. Teams in
`learn` are agents that choose, per member, a turn rate and a speed
(`action[team]: [agents, 2]` in [-1, 1], mapped to `[-max_turn, max_turn]`
and `[min_speed, max_speed]`, moved kinematically); the other teams follow the
energy model of `gambol.envs.flocking` exactly (including the avoidance push).

- `boids` (learn=()): the pure simulation. Single-agent API with an empty
  action (`jnp.zeros(0)` or `None`); obs = [polarization, mean nearest-neighbour
  distance / cutoff, collisions / n]; reward = polarization.
- `flock` (learn=("boid",)): every boid is an agent; predators (default none)
  follow the energy model.
- `predator_prey` (learn=("boid", "predator")): both teams learn; pass
  `learn=("boid",)` or `("predator",)` to let the energy model drive the other.

Observations (egocentric, fixed size, each feature clipped to [-1, 1]): for the
`k` nearest neighbours (boids for a boid, boids for a predator) their position in
the agent's frame / cutoff, relative heading (cos, sin) and a valid flag; then
the mean heading of neighbours within the alignment range and the direction to
their centre of mass (agent frame) with their count / k; the nearest obstacle
(direction and surface distance / cutoff); for boids the nearest predator
(position / cutoff and a presence flag), for predators their sprint level.

Rewards: a boid gets minus its own energy terms (alignment, avoidance,
cohesion, obstacle, predator; times `energy_reward_scale`), minus
`collision_penalty` per neighbour closer than `collision_distance`, minus
`capture_penalty` when caught, plus `alignment_reward` (default 0) times the sum
of cos(theta_j - theta_i) over its neighbours within the alignment range,
divided by `k_nearest` (the energy terms vanish for a lone boid, so without
this term scattering is optimal). A predator gets `capture_reward` per boid within
`capture_radius` minus its chase and obstacle energy.

Captures: a boid within `capture_radius` of a predator is caught: it counts in
`metrics["captures"]` and respawns at a uniformly random position with a random
heading in the same step (the population stays constant).

Metrics every step: `polarization`, `nearest_neighbor_distance` (mean over boids,
capped at the list cutoff), `collisions` (pairs closer than `collision_distance`),
`captures`, `rebuilds` and `overflow` of the neighbour list, and `energy`: the
total energy at the start of the step when some team follows the energy model
(a by-product of its force), else the learned agents' energy terms after it.

The simulation itself (state, one step, neighbour lists, the sprint clock) is
`gambol.envs.flock_sim.FlockSim`; `FlockEnv` adds this agent layer on top:
what each team observes, what it is paid, and its action mapping.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gambol.envs import flocking as fl
from gambol.envs.base import Box, Env, State
from gambol.envs.flock_sim import TEAMS, FlockSim, FlockState

__all__ = ["FlockEnv", "FlockState", "boids", "flock", "predator_prey"]


def _nearest(r: jax.Array, k: int):
    """The k smallest entries of each row of r [..., M] and their columns, ascending.

    k passes of argmin for short rows (several times faster than a sort on CPU there),
    `lax.top_k` otherwise.
    """
    if r.shape[-1] > 16:
        neg, order = jax.lax.top_k(-r, k)
        return -neg, order
    cols = jnp.arange(r.shape[-1])
    values, order = [], []
    for _ in range(k):
        j = jnp.argmin(r, axis=-1)
        values.append(jnp.min(r, axis=-1))
        order.append(j)
        r = jnp.where(cols == j[..., None], jnp.inf, r)
    return jnp.stack(values, -1), jnp.stack(order, -1)


class FlockEnv(FlockSim, Env):
    """The agent layer over `FlockSim`: teams in `learn` act, the rest follow the energy model."""

    version = "2"   # 2: the sprint clock starts at 0 and a sprint takes effect the step it starts

    def __init__(self, num_boids: int = 200, num_predators: int = 0, num_obstacles: int = 0,
                 box_size: float | None = None, learn: tuple[str, ...] = ("boid",), k_nearest: int = 6,
                 max_turn: float = 1.0, min_speed: float = 0.5, max_speed: float = 2.0,
                 energy_reward_scale: float = 0.1, collision_penalty: float = 1.0,
                 capture_penalty: float = 10.0, capture_reward: float = 10.0,
                 alignment_reward: float = 0.0, neighbor_list: bool = True, dr_threshold: float = 10.0,
                 max_neighbors: int = 48,
                 cell_capacity: int = 24, obstacle_seed: int = 0, params: fl.FlockParams | None = None,
                 **param_overrides):
        if not isinstance(k_nearest, (int, np.integer)) or k_nearest < 1:
            raise ValueError(f"k_nearest: expected an int >= 1, got {k_nearest!r}")
        learn = tuple(learn)
        unknown = [t for t in learn if t not in TEAMS]
        if unknown:
            raise ValueError(f"learn: expected teams from {list(TEAMS)}, got {unknown}")
        if "predator" in learn and num_predators == 0:
            raise ValueError("learn: 'predator' needs num_predators >= 1")
        if not (isinstance(alignment_reward, (int, float, np.floating)) and alignment_reward >= 0):
            raise ValueError(f"alignment_reward: expected a number >= 0, got {alignment_reward!r}")
        super().__init__(num_boids, num_predators, num_obstacles, box_size, neighbor_list, dr_threshold,
                         max_neighbors, cell_capacity, obstacle_seed, params, **param_overrides)
        self.learn, self.k = learn, int(min(k_nearest, self.n - 1))
        self.max_turn, self.min_speed, self.max_speed = float(max_turn), float(min_speed), float(max_speed)
        self.energy_reward_scale = float(energy_reward_scale)
        self.collision_penalty, self.capture_penalty = float(collision_penalty), float(capture_penalty)
        self.capture_reward = float(capture_reward)
        self.alignment_reward = float(alignment_reward)
        self._specs()

    def _specs(self):
        unit = lambda size: Box((size,), low=-1.0, high=1.0)  # noqa: E731
        if not self.learn:
            self.agents = None
            self.observation_spec = Box((3,), low=0.0, high=[1.0, 1.0, np.inf])
            self.action_spec = Box((0,))
            return
        counts = {"boid": self.n, "predator": self.num_predators}
        self.agents = {t: counts[t] for t in self.learn}
        sizes = {"boid": 5 * self.k + 5 + 3 + 3, "predator": 5 * self.k + 5 + 3 + 1}
        self.observation_spec = {t: unit(sizes[t]) for t in self.learn}
        self.action_spec = {t: unit(2) for t in self.learn}

    # -- reset and step ----------------------------------------------------------------------
    def _reset(self, rng) -> State:
        s = self.init_state(rng)
        metrics = self.metrics(s, jnp.zeros(()), jnp.zeros(()))
        reward = jnp.zeros(()) if not self.learn else {t: jnp.zeros(n) for t, n in self.agents.items()}
        return State(s, self._obs(s, metrics), reward, jnp.zeros(()), metrics=metrics)

    def step(self, state: State, action=None) -> State:
        if not self.learn and action is None:
            action = jnp.zeros((0,))
        return super().step(state, action)

    def _moves(self, action: dict) -> dict:
        """Actions in [-1, 1] -> (turn rate in [-max_turn, max_turn], speed in [min_speed, max_speed])."""
        span = self.max_speed - self.min_speed
        return {t: (self.max_turn * a[:, 0], self.min_speed + 0.5 * (a[:, 1] + 1.0) * span)
                for t, a in action.items()}

    def _step(self, state: State, action) -> State:
        moves = self._moves(action) if self.learn else {}
        nxt, caught, by_predator, energy = self.advance(state.pipeline_state, moves)
        pairs = self.pairs(nxt)                                                       # shared below
        stats = self.stats(nxt, pairs)
        reward, terms = self._reward(nxt, caught, by_predator, stats, pairs)
        energy = energy if energy is not None else sum(jnp.sum(t) for t in terms)
        metrics = self.metrics(nxt, jnp.sum(caught), energy, stats)
        return state.replace(pipeline_state=nxt, obs=self._obs(nxt, metrics, pairs), reward=reward,
                             metrics={**state.metrics, **metrics})

    # -- rewards -------------------------------------------------------------------------------
    def _reward(self, s: FlockState, caught, by_predator, stats, pairs=None):
        """Per-team rewards and the learned agents' energy terms they were built from."""
        if not self.learn:
            return fl.polarization(s.boids.theta), []
        pay = {"boid": self._boid_reward, "predator": self._predator_reward}
        parts = {t: pay[t](s, caught, by_predator, stats, pairs) for t in self.learn}
        return {t: r.astype(jnp.float32) for t, (r, _) in parts.items()}, [e for _, e in parts.values()]

    def _boid_reward(self, s: FlockState, caught, by_predator, stats, pairs):
        """(-scale * own energy terms - collision and capture penalties [+ alignment reward], terms)."""
        terms = sum(fl.boid_energies(self.params, self.displacement, s.boids, self._idx(s),
                                     s.predators if self.num_predators else None, pairs=pairs).values())
        reward = -self.energy_reward_scale * terms - self.collision_penalty * stats[2] - self.capture_penalty * caught
        if self.alignment_reward:
            reward = reward + self.alignment_reward * self._alignment(s, pairs)
        return reward, terms

    def _predator_reward(self, s: FlockState, caught, by_predator, stats, pairs):
        """(capture_reward per boid caught - scale * chase and obstacle energy, terms)."""
        terms = sum(fl.predator_energies(self.params, self.displacement, s.predators, s.boids).values())
        return self.capture_reward * by_predator - self.energy_reward_scale * terms, terms

    # -- observations --------------------------------------------------------------------------
    def _alignment(self, s: FlockState, pairs=None):
        """Per boid, sum over neighbours j within the alignment range of
        cos(theta_j - theta_i), divided by k: [n], up to about 1 among k aligned
        neighbours, 0 alone. The energy terms are all zero for a lone boid, so
        a reward of minus them alone is maximised by scattering; this term pays
        for flying with others."""
        idx = self._idx(s)
        d, valid = pairs if pairs is not None else self.pairs(s)
        local = valid & (fl._norm(d) < self.params.align_range)
        rel = s.boids.theta[jnp.where(valid, idx, 0)] - s.boids.theta[:, None]
        return jnp.sum(jnp.where(local, jnp.cos(rel), 0.0), axis=1) / self.k

    def _ego(self, d, theta):
        """Vectors d [..., 2] in the frame of heading theta (broadcast on leading axes)."""
        N = fl.heading(theta)
        return jnp.stack([jnp.sum(d * N, -1), N[..., 0] * d[..., 1] - N[..., 1] * d[..., 0]], -1)

    def _features(self, d, valid, theta_self, theta_other, scale):
        """k-nearest, mean heading, centre of mass for one team's agents: [a, 5k + 5]."""
        r = fl._norm(d)
        valid = valid & (r < self.cutoff)           # the same neighbourhood with or without a list
        r = jnp.where(valid, r, jnp.inf)
        dist, order = _nearest(r, self.k)
        near = jnp.isfinite(dist)
        take = lambda x: jnp.take_along_axis(x, order, axis=1)  # noqa: E731
        dk = jnp.take_along_axis(d, order[..., None], axis=1)
        rel = take(theta_other) - theta_self[:, None]
        knn = jnp.concatenate([self._ego(dk, theta_self[:, None]) / scale, jnp.cos(rel)[..., None],
                               jnp.sin(rel)[..., None], near[..., None]], -1)
        knn = jnp.where(near[..., None], knn, 0.0).reshape(d.shape[0], -1)
        local = valid & (r < self.params.align_range)
        count = jnp.maximum(jnp.sum(local, 1), 1)[:, None]
        mean_heading = jnp.sum(jnp.where(local[..., None], fl.heading(theta_other), 0.0), 1) / count
        com = jnp.sum(jnp.where(local[..., None], d, 0.0), 1) / count
        extra = jnp.concatenate([self._ego(mean_heading, theta_self), self._ego(com, theta_self) / scale,
                                 jnp.sum(local, 1, keepdims=True) / self.k], -1)
        return jnp.concatenate([knn, extra], -1)

    def _nearest_obstacle(self, agents: fl.Agents, scale):
        if not self.num_obstacles:
            return jnp.zeros((agents.theta.shape[0], 3))
        p = self.params
        d = fl.displacements_to(self.displacement, p.obstacle_position, agents.position)
        gap = fl._norm(d) - p.obstacle_radius
        j = jnp.argmin(gap, axis=1)
        dj = jnp.take_along_axis(d, j[:, None, None], axis=1)[:, 0]
        direction = self._ego(dj / fl._norm(dj)[:, None], agents.theta)
        return jnp.concatenate([direction, jnp.take_along_axis(gap, j[:, None], 1) / scale], -1)

    def _obs(self, s: FlockState, metrics, pairs=None):
        if not self.learn:
            return jnp.stack([metrics["polarization"], metrics["nearest_neighbor_distance"] / self.cutoff,
                              metrics["collisions"] / self.n]).astype(jnp.float32)
        observe = {"boid": self._boid_obs, "predator": self._predator_obs}
        scale = self.cutoff + self.dr_threshold
        return {t: jnp.clip(observe[t](s, scale, pairs), -1.0, 1.0).astype(jnp.float32) for t in self.learn}

    def _boid_obs(self, s: FlockState, scale, pairs=None):
        """Neighbour features, nearest obstacle, nearest predator: [n, 5k + 11]."""
        idx = self._idx(s)
        d, valid = pairs if pairs is not None else self.pairs(s)
        theta_j = s.boids.theta[jnp.where(valid, idx, 0)]
        return jnp.concatenate([self._features(d, valid, s.boids.theta, theta_j, scale),
                                self._nearest_obstacle(s.boids, scale), self._nearest_predator(s, scale)], -1)

    def _nearest_predator(self, s: FlockState, scale):
        """For each boid, its nearest predator in its frame / scale and a presence flag: [n, 3]."""
        if not self.num_predators:
            return jnp.zeros((self.n, 3))
        dq = fl.displacements_to(self.displacement, s.predators.position, s.boids.position)   # [n, p, 2]
        j = jnp.argmin(fl._norm(dq), axis=1)
        dj = jnp.take_along_axis(dq, j[:, None, None], axis=1)[:, 0]
        return jnp.concatenate([self._ego(dj, s.boids.theta) / scale, jnp.ones((self.n, 1))], -1)

    def _predator_obs(self, s: FlockState, scale, pairs=None):
        """Features of the boids it sees, nearest obstacle, sprint level exp(-t / tau): [p, 5k + 9]."""
        d = fl.displacements_to(self.displacement, s.boids.position, s.predators.position)
        theta_b = jnp.broadcast_to(s.boids.theta, (self.num_predators, self.n))
        valid = jnp.ones(d.shape[:2], bool)
        sprint = jnp.exp(-s.since_sprint / self.params.sprint_decay)[:, None]
        return jnp.concatenate([self._features(d, valid, s.predators.theta, theta_b, scale),
                                self._nearest_obstacle(s.predators, scale), sprint], -1)

    # -- energy-model actions for adapters -------------------------------------------------
    def scripted_action(self, state: State):
        """The energy model projected onto (turn, speed): turn = -dE/dtheta; boids cruise, a
        predator runs at its sprint speed with its clock advanced against the boids where they
        are now (the step itself checks them after they move)."""
        if not self.learn:
            return jnp.zeros((0,))
        s, p = state.pipeline_state, self.params
        idx = self._idx(s)
        fb, fq = fl.forces(p, self.displacement, s.boids, idx, s.predators if self.num_predators else None)
        out = {}
        since = fl.update_sprint(p, self.displacement, s.predators, s.boids, s.since_sprint)
        speed = {"boid": p.speed, "predator": fl.sprint_speed(p, since)}
        force = {"boid": fb, "predator": fq}
        for t in self.learn:
            turn = jnp.clip(force[t].theta / self.max_turn, -1, 1)
            v = jnp.broadcast_to(speed[t], turn.shape)
            level = jnp.clip(2 * (v - self.min_speed) / (self.max_speed - self.min_speed) - 1, -1, 1)
            out[t] = jnp.stack([turn, level], -1)
        return out

    # -- pictures -------------------------------------------------------------------------------
    def render(self, state: State) -> np.ndarray:
        from gambol.envs.flock_render import draw_frame
        return draw_frame(self, state.pipeline_state)


def boids(num_boids: int = 200, num_predators: int = 0, num_obstacles: int = 0, **kwargs) -> FlockEnv:
    """The pure energy-model simulation."""
    return FlockEnv(num_boids, num_predators, num_obstacles, learn=(), **kwargs)


def flock(num_boids: int = 200, num_predators: int = 0, num_obstacles: int = 0, **kwargs) -> FlockEnv:
    """Every boid is an agent; predators (if any) follow the energy model."""
    return FlockEnv(num_boids, num_predators, num_obstacles, learn=("boid",), **kwargs)


def predator_prey(num_boids: int = 200, num_predators: int = 4, num_obstacles: int = 0,
                  learn: tuple[str, ...] = ("boid", "predator"), **kwargs) -> FlockEnv:
    """Two teams, `boid` and `predator`; teams not in `learn` follow the energy model."""
    return FlockEnv(num_boids, num_predators, num_obstacles, learn=learn, **kwargs)
