"""Reynolds flocking as an energy model (JAX MD paper, section 4.3 and appendix B).

Boids and predators are points in a periodic 2-D box with a heading angle
`theta`, `N(theta) = (cos theta, sin theta)`. Every interaction is local through

    rho(r; R_c) = (1/alpha) (1 - r/R_c)^alpha   for r < R_c, else 0,

so a neighbour list with cutoff max(R_c) suffices. With `d_ij = R_j - R_i`
(minimum image, from i to j):

    alignment  J_a rho(|d_ij|; D_a) (1 - N_i.N_j)^2 fov_ij   (d stop-gradiented: turns only)
    avoidance  J_v rho(|d_ij|; D_v)                          (moves boids apart)
    cohesion   1/2 J_c (1 - hat(Delta_i).N_i)^2, Delta_i = mean of d_ij over visible j, |d_ij| < D_c
    obstacle   J_o (1 - r/D_o)^2 (1 + N_i.hat(d_io))^2        (D_o: the obstacle's radius)
    boid-predator   the obstacle form with the predator in place of the obstacle, range D_bp
    predator-boid   the cohesion form over boids within D_pb (predators chase)

Pairs are summed over ordered pairs with a factor 1/2. `fov_ij` is 1 when j is
in i's field of view, `hat(d_ij).N_i > cos(fov_angle)` (fov_angle = pi: all);
cohesion uses its own `cohesion_fov_angle` (default the same), so it can be
restricted to the field of view or not independently of alignment.
The update is overdamped forward Euler with `F = -grad E` over the whole state:

    R <- shift(R, dt (v N(theta) + F_R)),   theta <- theta + dt F_theta.

The paper's stop-gradients (alignment and cohesion turn but do not move; boids
do not push predators; predators do not pull boids) are written as partial
derivatives instead: every energy takes the positions twice, as `agents` (the
variables the force differentiates) and as `geometry` (positions that shape the
turning terms but are held fixed by the force). `forces` differentiates the
first argument only, at `geometry = agents`. Unlike `lax.stop_gradient`, this
keeps derivatives of whole rollouts (with respect to parameters or initial
states) exact, since the force's own dependence on `geometry` is still seen.

Predators sprint: their speed is `v_p + v_sprint exp(-t / tau)`, where `t`
restarts from zero when a boid comes within `sprint_range` and more than
`sprint_interval` time has passed since the last sprint (the notebook's clock:
it starts at 0, and a restart takes effect the step it happens; see
`gambol.envs.flock_sim`).

The boid-predator term is squared in `(1 + N.hat(d))`, as the paper's text has
it ("the same obstacle avoiding energy"); the JAX MD notebook's code uses the
first power, `(J/alpha)(1 - r/D)^alpha (1 + hat(d).N)`. Both vanish facing away
and peak facing the predator; the squared form is flatter near facing away.

Neighbours are given as an index array `idx: [n, M]` padded with `n` (a Dense
neighbour list, or every other boid for the all-pairs reference).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.physics import space

Array = jax.Array
_EPS = 1e-7


@struct.dataclass
class FlockParams:
    """Physical constants (traced; batch or differentiate any of them).

    Defaults are the JAX MD flocking notebook's values. Ranges must not exceed
    the env's neighbour-list cutoff, which is fixed when the env is built.
    """

    dt: float = 0.1
    speed: float = 1.0
    alpha: float = 3.0
    align_strength: float = 12.0
    align_range: float = 45.0
    avoid_strength: float = 25.0
    avoid_range: float = 30.0
    cohesion_strength: float = 0.05
    cohesion_range: float = 40.0
    fov_angle: float = np.pi / 3
    cohesion_fov_angle: float = np.pi / 3
    obstacle_strength: float = 1000.0
    boid_predator_strength: float = 256.0
    boid_predator_range: float = 75.0
    predator_boid_strength: float = 0.1
    predator_boid_range: float = 95.0
    predator_speed: float = 0.85
    sprint_speed: float = 2.0
    sprint_range: float = 65.0
    sprint_interval: float = 300.0
    sprint_decay: float = 50.0
    collision_distance: float = 10.0
    capture_radius: float = 15.0
    obstacle_position: Array = struct.field(default_factory=lambda: jnp.zeros((0, 2)))   # [k, 2]
    obstacle_radius: Array = struct.field(default_factory=lambda: jnp.zeros((0,)))       # [k]


@struct.dataclass
class Agents:
    """Points with headings: `position: [n, 2]`, `theta: [n]`."""

    position: Array
    theta: Array


def heading(theta: Array) -> Array:
    """N(theta) = (cos theta, sin theta): [..., 2]."""
    return jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)


def rho(r: Array, cutoff, alpha) -> Array:
    """(1/alpha) (1 - r/R_c)^alpha inside the cutoff, 0 outside."""
    return jnp.maximum(1.0 - r / cutoff, 0.0) ** alpha / alpha


def _norm(d: Array) -> Array:
    return jnp.sqrt(space.dot(d, d) + _EPS ** 2)


def displacements_to(displacement, targets: Array, origins: Array) -> Array:
    """d[i, j] = targets[j] - origins[i] (minimum image): [len(origins), len(targets), 2]."""
    return space.map_pair(lambda o, t: displacement(t, o))(origins, targets)


def neighbor_pairs(displacement, R: Array, idx: Array):
    """d_ij = R_j - R_i for the neighbours in `idx`, and the validity mask: [n, M, 2], [n, M]."""
    n = R.shape[0]
    valid = idx < n
    Rj = R[jnp.where(valid, idx, 0)]
    d = space.map_neighbor(lambda Ri, Rk: displacement(Rk, Ri))(R, Rj)
    return d, valid


def _cohesion(d: Array, visible: Array, N: Array, strength) -> Array:
    """1/2 J (1 - hat(Delta).N)^2 with Delta the mean visible d (held fixed by the force); 0 if none."""
    count = jnp.sum(visible, axis=-1)
    delta = jnp.sum(jnp.where(visible[..., None], d, 0.0), axis=-2) / jnp.maximum(count, 1)[..., None]
    delta_hat = delta / _norm(delta)[..., None]
    e = 0.5 * strength * (1.0 - space.dot(delta_hat, N)) ** 2
    return jnp.where(count > 0, e, 0.0)


def _facing_away(d: Array, N: Array, cutoff, strength, power) -> Array:
    """J (1 - r/D)^power (1 + N.hat(d))^2 inside D: lowest when facing away from d."""
    r = _norm(d)
    return strength * jnp.maximum(1.0 - r / cutoff, 0.0) ** power * (1.0 + space.dot(N, d) / r) ** 2


def _obstacle_energy(p: FlockParams, displacement, agents: Agents) -> Array:
    """J_o (1 - r/D_o)^2 (1 + N.hat(d))^2 summed over obstacles, d from agent to centre: [n]."""
    d = displacements_to(displacement, p.obstacle_position, agents.position)
    return jnp.sum(_facing_away(d, heading(agents.theta)[:, None], p.obstacle_radius, p.obstacle_strength, 2.0),
                   axis=1)


def boid_energies(p: FlockParams, displacement, boids: Agents, idx: Array,
                  predators: Agents | None = None, geometry=None, pairs=None) -> dict[str, Array]:
    """Each boid's share of the energy, term by term: {name: [n]}.

    `geometry = (boid_positions, predator_positions)` that the force holds
    fixed (default: the current ones); see the module docstring. `pairs`:
    `(d, valid)` from `neighbor_pairs` when already computed.
    """
    fixed_b, fixed_q = geometry if geometry is not None else (
        boids.position, None if predators is None else predators.position)
    N = heading(boids.theta)
    d, valid = pairs if pairs is not None else neighbor_pairs(displacement, boids.position, idx)
    d_fixed = d if fixed_b is boids.position else neighbor_pairs(displacement, fixed_b, idx)[0]
    r = _norm(d)
    r_fixed = r if d_fixed is d else _norm(d_fixed)
    Nj = N[jnp.where(valid, idx, 0)]
    facing = space.dot(d_fixed, N[:, None]) / r_fixed          # cos of the angle to j from i's heading
    visible = valid & (facing > jnp.cos(p.fov_angle))
    align = p.align_strength * rho(r_fixed, p.align_range, p.alpha) * (1.0 - space.dot(N[:, None], Nj)) ** 2
    avoid = p.avoid_strength * rho(r, p.avoid_range, p.alpha)
    terms = {
        "alignment": 0.5 * jnp.sum(jnp.where(visible, align, 0.0), axis=1),
        "avoidance": 0.5 * jnp.sum(jnp.where(valid, avoid, 0.0), axis=1),
        "cohesion": _cohesion(d_fixed, valid & (r_fixed < p.cohesion_range) & (facing > jnp.cos(p.cohesion_fov_angle)),
                              N, p.cohesion_strength),
    }
    terms["obstacle"] = _obstacle_energy(p, displacement, boids)
    if predators is not None:   # the obstacle form, (J/alpha)(1 - r/D)^alpha, predators held fixed
        d_pred = displacements_to(displacement, fixed_q, boids.position)
        terms["predator"] = jnp.sum(_facing_away(d_pred, N[:, None], p.boid_predator_range,
                                                 p.boid_predator_strength / p.alpha, p.alpha), axis=1)
    return terms


def predator_energies(p: FlockParams, displacement, predators: Agents, boids: Agents,
                      geometry=None) -> dict[str, Array]:
    """Each predator's energy: chasing the visible boids' centre, and avoiding obstacles: {name: [p]}.

    The chase direction depends on `geometry = (boid_positions, predator_positions)` only.
    """
    Rb, Rq = geometry if geometry is not None else (boids.position, predators.position)
    N = heading(predators.theta)
    d = displacements_to(displacement, Rb, Rq)                                                  # [p, n, 2]
    r = _norm(d)
    visible = (r < p.predator_boid_range) & (space.dot(d, N[:, None]) / r > jnp.cos(p.fov_angle))
    return {"chase": _cohesion(d, visible, N, p.predator_boid_strength),
            "obstacle": _obstacle_energy(p, displacement, predators)}


def total_energy(p: FlockParams, displacement, boids: Agents, idx: Array,
                 predators: Agents | None = None, geometry=None) -> Array:
    """E = E_boid + E_predator, a scalar."""
    if geometry is None:
        geometry = (boids.position, None if predators is None else predators.position)
    e = sum(jnp.sum(v) for v in boid_energies(p, displacement, boids, idx, predators, geometry).values())
    if predators is not None:
        e = e + sum(jnp.sum(v) for v in predator_energies(p, displacement, predators, boids, geometry).values())
    return e


def energy_and_forces(p: FlockParams, displacement, boids: Agents, idx: Array,
                      predators: Agents | None = None):
    """(E, F_boids, F_predators): F = -dE/d(agents) with the geometry held fixed, as `Agents`
    of forces (`position`: -dE/dR, `theta`: -dE/dtheta); F_predators is None without predators."""
    geometry = (boids.position, None if predators is None else predators.position)
    fn = jax.value_and_grad(lambda b, q: total_energy(p, displacement, b, idx, q, geometry), argnums=(0, 1))
    e, (gb, gq) = fn(boids, predators)
    neg = lambda g: None if g is None else jax.tree_util.tree_map(jnp.negative, g)  # noqa: E731
    return e, neg(gb), neg(gq)


def forces(p: FlockParams, displacement, boids: Agents, idx: Array, predators: Agents | None = None):
    """(F_boids, F_predators); see `energy_and_forces`."""
    return energy_and_forces(p, displacement, boids, idx, predators)[1:]


def energy_step(p: FlockParams, shift, boids: Agents, forces: Agents, speed) -> Agents:
    """R <- shift(R, dt (v N + F_R)), theta <- theta + dt F_theta (forward Euler, overdamped)."""
    move = p.dt * (jnp.reshape(speed, (-1, 1)) * heading(boids.theta) + forces.position)
    return Agents(position=shift(boids.position, move), theta=boids.theta + p.dt * forces.theta)


def sprint_speed(p: FlockParams, since_sprint: Array) -> Array:
    """v_p + v_sprint exp(-t / tau) for each predator."""
    return p.predator_speed + p.sprint_speed * jnp.exp(-since_sprint / p.sprint_decay)


def update_sprint(p: FlockParams, displacement, predators: Agents, boids: Agents, since_sprint: Array) -> Array:
    """The sprint clock t [p] after one step: 0 where a boid is within `sprint_range` and
    t > `sprint_interval`, else t + dt. The notebook's order: predators where they are before
    their move, boids after theirs; the speed of this step's move is read from the result."""
    d = displacements_to(displacement, boids.position, predators.position)
    near = jnp.min(_norm(d), axis=1) < p.sprint_range
    return jnp.where(near & (since_sprint > p.sprint_interval), 0.0, since_sprint + p.dt)


def all_pairs_idx(n: int) -> np.ndarray:
    """Every other boid for each boid: [n, n - 1], the all-pairs stand-in for a neighbour list."""
    j = np.arange(max(n - 1, 0))[None, :]
    return (j + (j >= np.arange(n)[:, None])).astype(np.int32)


# -- measures ------------------------------------------------------------------------------


def polarization(theta: Array) -> Array:
    """Order parameter |mean_i N(theta_i)|: 1 for a perfectly aligned flock, ~0 for random headings."""
    return jnp.linalg.norm(jnp.mean(heading(theta), axis=0))


def neighbor_stats(p: FlockParams, displacement, boids: Agents, idx: Array, cutoff: float, pairs=None):
    """(mean nearest-neighbour distance, capped at `cutoff`; number of pairs closer than
    `collision_distance`; per-boid collision counts [n])."""
    d, valid = pairs if pairs is not None else neighbor_pairs(displacement, boids.position, idx)
    r = jnp.where(valid, _norm(d), jnp.inf)
    nearest = jnp.minimum(jnp.min(r, axis=1, initial=jnp.inf), cutoff)
    hits = jnp.sum(r < p.collision_distance, axis=1)
    return jnp.mean(nearest), jnp.sum(hits) / 2, hits


def random_obstacles(rng, count: int, box_size: float, radius_range=(30.0, 100.0)):
    """`count` disks uniformly in the box with radii uniform in `radius_range`."""
    k1, k2 = jax.random.split(rng)
    position = jax.random.uniform(k1, (count, 2), maxval=box_size)
    radius = jax.random.uniform(k2, (count,), minval=radius_range[0], maxval=radius_range[1])
    return position, radius


def periodic_space(box_size: float):
    """The flock's periodic box: `(displacement, shift)`."""
    return space.periodic(box_size)
