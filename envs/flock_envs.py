"""Flocking environments: `boids`, `flock` and `predator_prey`, one class, three defaults.

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

Neighbour lists: a Dense list with cutoff `max(align, avoid, cohesion range)`
and skin `dr_threshold`, allocated once with `max_neighbors` per boid and
`cell_capacity` per cell. Overflow sets `metrics["overflow"]`; `rollout` redoes
the chunk with doubled capacities, so results are never silently truncated.
`neighbor_list=False` uses all pairs instead (the reference; O(n^2)); so does a
flock small enough that a list row would hold every other boid (`n - 1 <=
max_neighbors`), where all pairs are the cheaper exact choice.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.envs import flocking as fl
from gambol.envs.base import Box, Env, State
from gambol.physics import partition

TEAMS = ("boid", "predator")


@struct.dataclass
class FlockState:
    boids: fl.Agents
    predators: fl.Agents
    since_sprint: jax.Array          # [p]
    nbrs: partition.NeighborList | None
    rng: jax.Array                   # respawn keys


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


class FlockEnv(Env):
    version = "1"

    def __init__(self, num_boids: int = 200, num_predators: int = 0, num_obstacles: int = 0,
                 box_size: float | None = None, learn: tuple[str, ...] = ("boid",), k_nearest: int = 6,
                 max_turn: float = 1.0, min_speed: float = 0.5, max_speed: float = 2.0,
                 energy_reward_scale: float = 0.1, collision_penalty: float = 1.0,
                 capture_penalty: float = 10.0, capture_reward: float = 10.0,
                 alignment_reward: float = 0.0, neighbor_list: bool = True, dr_threshold: float = 10.0,
                 max_neighbors: int = 48,
                 cell_capacity: int = 24, obstacle_seed: int = 0, params: fl.FlockParams | None = None,
                 **param_overrides):
        for name, value, low in (("num_boids", num_boids, 2), ("num_predators", num_predators, 0),
                                 ("num_obstacles", num_obstacles, 0), ("k_nearest", k_nearest, 1),
                                 ("max_neighbors", max_neighbors, 1), ("cell_capacity", cell_capacity, 1)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
        learn = tuple(learn)
        unknown = [t for t in learn if t not in TEAMS]
        if unknown:
            raise ValueError(f"learn: expected teams from {list(TEAMS)}, got {unknown}")
        if "predator" in learn and num_predators == 0:
            raise ValueError("learn: 'predator' needs num_predators >= 1")
        fields = set(fl.FlockParams.__dataclass_fields__)
        bad = sorted(set(param_overrides) - fields)
        if bad:
            raise TypeError(f"unknown flock parameter(s) {bad}; FlockParams fields are {sorted(fields)}")
        self.n, self.num_predators, self.num_obstacles = int(num_boids), int(num_predators), int(num_obstacles)
        # the notebook's density: 200 boids in an 800 box
        self.box_size = float(box_size) if box_size is not None else 800.0 * math.sqrt(self.n / 200)
        self.learn, self.k = learn, int(min(k_nearest, self.n - 1))
        self.max_turn, self.min_speed, self.max_speed = float(max_turn), float(min_speed), float(max_speed)
        self.energy_reward_scale = float(energy_reward_scale)
        self.collision_penalty, self.capture_penalty = float(collision_penalty), float(capture_penalty)
        self.capture_reward = float(capture_reward)
        if not (isinstance(alignment_reward, (int, float, np.floating)) and alignment_reward >= 0):
            raise ValueError(f"alignment_reward: expected a number >= 0, got {alignment_reward!r}")
        self.alignment_reward = float(alignment_reward)
        p = params if params is not None else fl.FlockParams()
        if num_obstacles and p.obstacle_position.shape[0] != num_obstacles:
            pos, rad = fl.random_obstacles(jax.random.PRNGKey(obstacle_seed), num_obstacles, self.box_size)
            p = p.replace(obstacle_position=pos, obstacle_radius=rad)
        self.params = p.replace(**param_overrides)
        self.displacement, self.shift = fl.periodic_space(self.box_size)
        self.cutoff = float(max(self.params.align_range, self.params.avoid_range, self.params.cohesion_range))
        self.use_neighbor_list = bool(neighbor_list)
        self.dr_threshold = float(dr_threshold)
        self._max_neighbors, self._cell_capacity = int(max_neighbors), int(cell_capacity)
        self._setup_partition()
        self._specs()

    # -- construction ------------------------------------------------------------------
    def _setup_partition(self):
        # all pairs when asked for, or when a list row would hold every other boid anyway
        if not self.use_neighbor_list or self.n - 1 <= self._max_neighbors:
            self.neighbor_fn, self.template, self._all_pairs = None, None, jnp.asarray(fl.all_pairs_idx(self.n))
            return
        self.neighbor_fn = partition.neighbor_list(self.displacement, self.box_size, self.cutoff,
                                                   dr_threshold=self.dr_threshold, format=partition.Dense)
        R = jax.random.uniform(jax.random.PRNGKey(0), (self.n, 2), maxval=self.box_size)
        nbrs = self.neighbor_fn.allocate(R)
        m = min(self._max_neighbors, self.n - 1)
        cells = max(self._cell_capacity, nbrs.cell_capacity) if nbrs.cell_capacity else 0
        nbrs = nbrs.replace(max_neighbors=m, cell_capacity=cells, idx=jnp.full((self.n, m), self.n, jnp.int32))
        self.template = self.neighbor_fn.rebuild(R, nbrs)

    batch_axis: str | None = None

    def in_batch(self, axis_name: str) -> "FlockEnv":
        import copy

        env = copy.copy(self)
        env.batch_axis = axis_name
        return env

    def with_capacity(self, factor: float = 2.0) -> "FlockEnv":
        """A copy whose neighbour lists hold `factor` times more (after an overflow)."""
        import copy

        env = copy.copy(self)
        env._max_neighbors = int(math.ceil(self._max_neighbors * factor))
        env._cell_capacity = int(math.ceil(self._cell_capacity * factor))
        env._setup_partition()
        return env

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

    # -- neighbours ----------------------------------------------------------------------
    def _idx(self, s: FlockState):
        return self._all_pairs if s.nbrs is None else s.nbrs.idx

    # -- reset ---------------------------------------------------------------------------------
    def _reset(self, rng) -> State:
        k1, k2, k3, k4, k5 = jax.random.split(rng, 5)
        L = self.box_size
        boids = fl.Agents(jax.random.uniform(k1, (self.n, 2), maxval=L),
                          jax.random.uniform(k2, (self.n,), maxval=2 * jnp.pi))
        preds = fl.Agents(jax.random.uniform(k3, (self.num_predators, 2), maxval=L),
                          jax.random.uniform(k4, (self.num_predators,), maxval=2 * jnp.pi))
        nbrs = None if self.template is None else self.neighbor_fn.rebuild(boids.position, self.template)
        since = jnp.full((self.num_predators,), self.params.sprint_interval + 1.0,
                         boids.position.dtype)     # strongly typed, as step returns it
        s = FlockState(boids, preds, since, nbrs, k5)
        metrics = self._metrics(s, jnp.zeros(()), jnp.zeros(()))
        obs = self._obs(s, metrics)
        return State(s, obs, self._zero_reward(), jnp.zeros(()), metrics=metrics)

    def _zero_reward(self):
        if not self.learn:
            return jnp.zeros(())
        return {t: jnp.zeros(n) for t, n in self.agents.items()}

    # -- step ------------------------------------------------------------------------------------
    def _kinematic(self, agents: fl.Agents, action) -> fl.Agents:
        p = self.params
        turn = self.max_turn * action[:, 0]
        speed = self.min_speed + 0.5 * (action[:, 1] + 1.0) * (self.max_speed - self.min_speed)
        theta = agents.theta + p.dt * turn
        return fl.Agents(self.shift(agents.position, p.dt * speed[:, None] * fl.heading(theta)), theta)

    def step(self, state: State, action=None) -> State:
        if not self.learn and action is None:
            action = jnp.zeros((0,))
        return super().step(state, action)

    def _step(self, state: State, action) -> State:
        p, s = self.params, state.pipeline_state
        preds = s.predators if self.num_predators else None
        idx = self._idx(s)

        learned = action if self.learn else {}
        driven = ("boid" not in learned) or (self.num_predators and "predator" not in learned)
        energy, fb, fq = (fl.energy_and_forces(p, self.displacement, s.boids, idx, preds) if driven
                          else (None, None, None))   # learned teams move kinematically: no force needed
        boids = (self._kinematic(s.boids, learned["boid"]) if "boid" in learned
                 else fl.energy_step(p, self.shift, s.boids, fb, p.speed))
        since = s.since_sprint
        predators = s.predators
        if self.num_predators:
            if "predator" in learned:
                predators = self._kinematic(s.predators, learned["predator"])
            else:
                speed = fl.sprint_speed(p, since)
                predators = fl.energy_step(p, self.shift, s.predators, fq, speed)
            since = fl.update_sprint(p, self.displacement, predators, boids, since)
        # captures: caught boids respawn uniformly at random
        rng = s.rng
        caught, by_predator = self._captures(boids, predators)
        if self.num_predators:
            rng, k1, k2 = jax.random.split(s.rng, 3)
            boids = fl.Agents(
                jnp.where(caught[:, None], jax.random.uniform(k1, (self.n, 2), maxval=self.box_size),
                          boids.position),
                jnp.where(caught, jax.random.uniform(k2, (self.n,), maxval=2 * jnp.pi), boids.theta))
        nbrs = None if s.nbrs is None else s.nbrs.update(boids.position, batch_axis_name=self.batch_axis)
        nxt = FlockState(boids, predators, since, nbrs, rng)
        pairs = fl.neighbor_pairs(self.displacement, nxt.boids.position, self._idx(nxt))   # shared below
        stats = fl.neighbor_stats(p, self.displacement, nxt.boids, self._idx(nxt), self.cutoff, pairs)
        reward, terms = self._reward(nxt, caught, by_predator, stats, pairs)
        energy = energy if energy is not None else sum(jnp.sum(t) for t in terms)
        metrics = self._metrics(nxt, jnp.sum(caught), energy, stats)
        return state.replace(pipeline_state=nxt, obs=self._obs(nxt, metrics, pairs), reward=reward,
                             metrics={**state.metrics, **metrics})

    def _captures(self, boids: fl.Agents, predators: fl.Agents):
        if not self.num_predators:
            return jnp.zeros(self.n, bool), jnp.zeros((0,))
        d = fl.displacements_to(self.displacement, boids.position, predators.position)
        within = fl._norm(d) < self.params.capture_radius                       # [p, n]
        return jnp.any(within, axis=0), jnp.sum(within, axis=1).astype(jnp.float32)

    # -- metrics, rewards, observations --------------------------------------------------
    def _metrics(self, s: FlockState, captures, energy, stats=None):
        stats = stats or fl.neighbor_stats(self.params, self.displacement, s.boids, self._idx(s), self.cutoff)
        nn, collisions, _ = stats
        if s.nbrs is None:
            rebuilds, overflow = jnp.zeros(()), jnp.zeros(())
        else:
            rebuilds = s.nbrs.rebuilds.astype(jnp.float32)
            overflow = s.nbrs.did_buffer_overflow.astype(jnp.float32)
        return {"polarization": fl.polarization(s.boids.theta), "nearest_neighbor_distance": nn,
                "collisions": collisions.astype(jnp.float32), "captures": jnp.asarray(captures, jnp.float32),
                "energy": jnp.asarray(energy, jnp.float32), "rebuilds": rebuilds, "overflow": overflow}

    def _reward(self, s: FlockState, caught, by_predator, stats, pairs=None):
        """Per-team rewards and the learned agents' energy terms they were built from."""
        if not self.learn:
            return fl.polarization(s.boids.theta), []
        p = self.params
        reward, energies = {}, []
        if "boid" in self.learn:
            terms = sum(fl.boid_energies(p, self.displacement, s.boids, self._idx(s),
                                         s.predators if self.num_predators else None, pairs=pairs).values())
            reward["boid"] = (-self.energy_reward_scale * terms - self.collision_penalty * stats[2]
                              - self.capture_penalty * caught)
            if self.alignment_reward:
                reward["boid"] = reward["boid"] + self.alignment_reward * self._alignment(s, pairs)
            energies.append(terms)
        if "predator" in self.learn:
            terms = sum(fl.predator_energies(p, self.displacement, s.predators, s.boids).values())
            reward["predator"] = self.capture_reward * by_predator - self.energy_reward_scale * terms
            energies.append(terms)
        return {t: r.astype(jnp.float32) for t, r in reward.items()}, energies

    def _alignment(self, s: FlockState, pairs=None):
        """Per boid, sum over neighbours j within the alignment range of
        cos(theta_j - theta_i), divided by k: [n], up to about 1 among k aligned
        neighbours, 0 alone. The energy terms are all zero for a lone boid, so
        a reward of minus them alone is maximised by scattering; this term pays
        for flying with others."""
        idx = self._idx(s)
        d, valid = pairs if pairs is not None else fl.neighbor_pairs(self.displacement, s.boids.position, idx)
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
        scale = self.cutoff + self.dr_threshold
        obs = {}
        if "boid" in self.learn:
            idx = self._idx(s)
            d, valid = pairs if pairs is not None else fl.neighbor_pairs(self.displacement, s.boids.position, idx)
            theta_j = s.boids.theta[jnp.where(valid, idx, 0)]
            parts = [self._features(d, valid, s.boids.theta, theta_j, scale),
                     self._nearest_obstacle(s.boids, scale)]
            if self.num_predators:
                dq = fl.displacements_to(self.displacement, s.predators.position, s.boids.position)
                j = jnp.argmin(fl._norm(dq), axis=1)
                dj = jnp.take_along_axis(dq, j[:, None, None], axis=1)[:, 0]
                parts.append(jnp.concatenate([self._ego(dj, s.boids.theta) / scale,
                                              jnp.ones((self.n, 1))], -1))
            else:
                parts.append(jnp.zeros((self.n, 3)))
            obs["boid"] = jnp.concatenate(parts, -1)
        if "predator" in self.learn:
            d = fl.displacements_to(self.displacement, s.boids.position, s.predators.position)
            theta_b = jnp.broadcast_to(s.boids.theta, (self.num_predators, self.n))
            valid = jnp.ones(d.shape[:2], bool)
            sprint = jnp.exp(-s.since_sprint / self.params.sprint_decay)[:, None]
            obs["predator"] = jnp.concatenate([self._features(d, valid, s.predators.theta, theta_b, scale),
                                               self._nearest_obstacle(s.predators, scale), sprint], -1)
        return {t: jnp.clip(o, -1.0, 1.0).astype(jnp.float32) for t, o in obs.items()}

    # -- energy-model actions for adapters -------------------------------------------------
    def scripted_action(self, state: State):
        """The energy model projected onto (turn, speed): turn = -dE/dtheta, cruise speed."""
        if not self.learn:
            return jnp.zeros((0,))
        s, p = state.pipeline_state, self.params
        idx = self._idx(s)
        fb, fq = fl.forces(p, self.displacement, s.boids, idx, s.predators if self.num_predators else None)
        out = {}
        speed = {"boid": p.speed, "predator": fl.sprint_speed(p, s.since_sprint)}
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
