"""The flock simulation under the flocking envs: boids, predators and obstacles in a periodic box.

`FlockSim` owns everything physical: the box, the energy parameters, the
neighbour list, the state (`FlockState`), and one step of motion. A step
takes, for each team that is steered from outside, its turn rate and speed
(`moves = {team: (turn [a], speed [a])}`, moved kinematically); every other
team follows the energy model of `gambol.envs.flocking` (forward Euler on
-grad E, the avoidance push included). What agents see and are paid is the
agent layer's business (`gambol.envs.flock_envs`).

One step, in order (the JAX MD flocking notebook's order):
  1. forces at the current state, if some team follows the energy model;
  2. boids move;
  3. each predator's sprint clock `t`: restarted at 0 when a boid (moved) is
     within `sprint_range` of the predator (not yet moved) and `t >
     sprint_interval`, else `t + dt`; the clock starts at 0 (mid-sprint) at
     reset, as the notebook's does;
  4. predators move, at `v_p + v_sprint exp(-t / tau)` with the clock of this
     step (a sprint takes effect the step it starts);
  5. boids within `capture_radius` of a predator are caught and respawn
     uniformly at random with a random heading;
  6. the neighbour list follows the boids.

Neighbour lists: a Dense list with cutoff `max(align, avoid, cohesion range)`
and skin `dr_threshold`, allocated once with `max_neighbors` per boid and
`cell_capacity` per cell. Overflow sets `metrics["overflow"]`; `rollout`
redoes the chunk with doubled capacities (`with_capacity`), so results are
never silently truncated. `neighbor_list=False` uses all pairs instead (the
reference; O(n^2)); so does a flock small enough that a list row would hold
every other boid (`n - 1 <= max_neighbors`), where all pairs are the cheaper
exact choice.
"""

from __future__ import annotations

import copy
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.envs import flocking as fl
from gambol.physics import partition

TEAMS = ("boid", "predator")


@struct.dataclass
class FlockState:
    boids: fl.Agents
    predators: fl.Agents
    since_sprint: jax.Array          # [p]: each predator's sprint clock t
    nbrs: partition.NeighborList | None
    rng: jax.Array                   # respawn keys


class FlockSim:
    """Static configuration and pure functions of one flock; see the module docstring."""

    batch_axis: str | None = None

    def __init__(self, num_boids: int = 200, num_predators: int = 0, num_obstacles: int = 0,
                 box_size: float | None = None, neighbor_list: bool = True, dr_threshold: float = 10.0,
                 max_neighbors: int = 48, cell_capacity: int = 24, obstacle_seed: int = 0,
                 params: fl.FlockParams | None = None, **param_overrides):
        for name, value, low in (("num_boids", num_boids, 2), ("num_predators", num_predators, 0),
                                 ("num_obstacles", num_obstacles, 0), ("max_neighbors", max_neighbors, 1),
                                 ("cell_capacity", cell_capacity, 1)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
        fields = set(fl.FlockParams.__dataclass_fields__)
        bad = sorted(set(param_overrides) - fields)
        if bad:
            raise TypeError(f"unknown flock parameter(s) {bad}; FlockParams fields are {sorted(fields)}")
        self.n, self.num_predators, self.num_obstacles = int(num_boids), int(num_predators), int(num_obstacles)
        # the notebook's density: 200 boids in an 800 box
        self.box_size = float(box_size) if box_size is not None else 800.0 * math.sqrt(self.n / 200)
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

    @property
    def teams(self) -> tuple[str, ...]:
        """The teams present: ("boid",) or ("boid", "predator")."""
        return TEAMS if self.num_predators else TEAMS[:1]

    # -- neighbours ------------------------------------------------------------------------
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

    def in_batch(self, axis_name: str):
        env = copy.copy(self)
        env.batch_axis = axis_name
        return env

    def with_capacity(self, factor: float = 2.0):
        """A copy whose neighbour lists hold `factor` times more (after an overflow)."""
        env = copy.copy(self)
        env._max_neighbors = int(math.ceil(self._max_neighbors * factor))
        env._cell_capacity = int(math.ceil(self._cell_capacity * factor))
        env._setup_partition()
        return env

    def _idx(self, s: FlockState):
        return self._all_pairs if s.nbrs is None else s.nbrs.idx

    # -- state -----------------------------------------------------------------------------
    def init_state(self, rng) -> FlockState:
        """Boids and predators uniform in the box with uniform headings; sprint clocks at 0."""
        k1, k2, k3, k4, k5 = jax.random.split(rng, 5)
        L = self.box_size
        boids = fl.Agents(jax.random.uniform(k1, (self.n, 2), maxval=L),
                          jax.random.uniform(k2, (self.n,), maxval=2 * jnp.pi))
        preds = fl.Agents(jax.random.uniform(k3, (self.num_predators, 2), maxval=L),
                          jax.random.uniform(k4, (self.num_predators,), maxval=2 * jnp.pi))
        nbrs = None if self.template is None else self.neighbor_fn.rebuild(boids.position, self.template)
        since = jnp.zeros((self.num_predators,), boids.position.dtype)   # strongly typed, as advance returns it
        return FlockState(boids, preds, since, nbrs, k5)

    # -- one step ----------------------------------------------------------------------------
    def kinematic(self, agents: fl.Agents, turn, speed) -> fl.Agents:
        """theta <- theta + dt turn, then R <- shift(R, dt speed N(theta)): turn, speed [a]."""
        dt = self.params.dt
        theta = agents.theta + dt * turn
        return fl.Agents(self.shift(agents.position, dt * speed[:, None] * fl.heading(theta)), theta)

    def advance(self, s: FlockState, moves: dict):
        """One step (see the module docstring): `moves = {team: (turn [a], speed [a])}` for the
        teams steered from outside. Returns `(next state, caught [n] bool, captures per
        predator [p], energy)`, energy being the total energy at the start of the step when
        some team follows the energy model, else None."""
        p = self.params
        preds = s.predators if self.num_predators else None
        driven = [t for t in self.teams if t not in moves]
        energy, fb, fq = (fl.energy_and_forces(p, self.displacement, s.boids, self._idx(s), preds) if driven
                          else (None, None, None))       # steered teams move kinematically: no force needed
        force = {"boid": fb, "predator": fq}

        def move(team, agents, speed):
            if team in moves:
                return self.kinematic(agents, *moves[team])
            return fl.energy_step(p, self.shift, agents, force[team], speed)

        boids = move("boid", s.boids, p.speed)
        since = fl.update_sprint(p, self.displacement, s.predators, boids, s.since_sprint)
        predators = move("predator", s.predators, fl.sprint_speed(p, since)) if self.num_predators else s.predators
        caught, by_predator = self._captures(boids, predators)
        boids, rng = self._respawn(boids, caught, s.rng)
        nbrs = None if s.nbrs is None else s.nbrs.update(boids.position, batch_axis_name=self.batch_axis)
        return FlockState(boids, predators, since, nbrs, rng), caught, by_predator, energy

    def _captures(self, boids: fl.Agents, predators: fl.Agents):
        """(caught [n] bool, boids within capture_radius of each predator [p])."""
        d = fl.displacements_to(self.displacement, boids.position, predators.position)
        within = fl._norm(d) < self.params.capture_radius                       # [p, n]
        return jnp.any(within, axis=0), jnp.sum(within, axis=1).astype(jnp.float32)

    def _respawn(self, boids: fl.Agents, caught, rng):
        """Caught boids jump to a uniformly random position and heading; (boids, next key)."""
        if not self.num_predators:
            return boids, rng
        rng, k1, k2 = jax.random.split(rng, 3)
        position = jax.random.uniform(k1, (self.n, 2), maxval=self.box_size)
        theta = jax.random.uniform(k2, (self.n,), maxval=2 * jnp.pi)
        return fl.Agents(jnp.where(caught[:, None], position, boids.position),
                         jnp.where(caught, theta, boids.theta)), rng

    # -- measures ------------------------------------------------------------------------------
    def pairs(self, s: FlockState):
        """(d_ij [n, M, 2], valid [n, M]) over the current neighbours, shared by metrics and obs."""
        return fl.neighbor_pairs(self.displacement, s.boids.position, self._idx(s))

    def stats(self, s: FlockState, pairs=None):
        """(mean nearest-neighbour distance, colliding pairs, collisions per boid [n]); see
        `flocking.neighbor_stats`."""
        return fl.neighbor_stats(self.params, self.displacement, s.boids, self._idx(s), self.cutoff, pairs)

    def metrics(self, s: FlockState, captures, energy, stats=None) -> dict:
        """polarization, nearest_neighbor_distance, collisions, captures, energy, rebuilds, overflow."""
        nn, collisions, _ = stats or self.stats(s)
        if s.nbrs is None:
            rebuilds, overflow = jnp.zeros(()), jnp.zeros(())
        else:
            rebuilds = s.nbrs.rebuilds.astype(jnp.float32)
            overflow = s.nbrs.did_buffer_overflow.astype(jnp.float32)
        return {"polarization": fl.polarization(s.boids.theta), "nearest_neighbor_distance": nn,
                "collisions": collisions.astype(jnp.float32), "captures": jnp.asarray(captures, jnp.float32),
                "energy": jnp.asarray(energy, jnp.float32), "rebuilds": rebuilds, "overflow": overflow}
