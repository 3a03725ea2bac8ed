"""The boids energy model written with jax-md's primitives; run by benchmarks/flocking.py in jax-md's venv.

Imports only jax, numpy and jax_md (never gambol). Same model as gambol's `boids`
without obstacles or predators (JAX MD paper, section 4.3): with d_ij = R_j - R_i
(minimum image) and rho(r; D) = (1/alpha)(1 - r/D)^alpha inside D,

  alignment  J_a rho(|d|; D_a) (1 - N_i.N_j)^2, only for j in i's field of view   (d held fixed)
  avoidance  J_v rho(|d|; D_v)
  cohesion   1/2 J_c (1 - hat(Delta_i).N_i)^2, Delta_i the mean visible d_ij within D_c  (d held fixed)

pairs summed over the Dense list with a factor 1/2; "held fixed" = lax.stop_gradient.
(The JAX MD notebook's own all-pairs model, its epsilons included, is replicated in
_flock_notebook.py, which writes the fidelity fixture of tests/envs/test_flocking.py.)
Step (overdamped Euler): F = -grad E (jax.grad w.r.t. positions and headings),
R <- shift(R, dt (v N + F_R)), theta <- theta + dt F_theta, then nbrs.update(R).

Usage (prints one `RESULT {json}` line):
  python _flock_jaxmd.py time N BOX STEPS FORMAT MIN_WIDTH
      per-step loop of a jitted (energy step + nbrs.update), block_until_ready each step;
      warm-up 20 steps outside timing (reallocating on overflow), median of 3 repeats.
      MIN_WIDTH: pad the Dense list to at least this many neighbours (gambol's max_neighbors).
  python _flock_jaxmd.py check NPZ STEPS
      start from NPZ's position/theta/box, step STEPS times, return the final state.
"""
import json
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax_md import partition, space

# the JAX MD flocking notebook's constants (= gambol.envs.flocking.FlockParams defaults)
DT, SPEED, ALPHA = 0.1, 1.0, 3.0
J_ALIGN, D_ALIGN = 12.0, 45.0
J_AVOID, D_AVOID = 25.0, 30.0
J_COHESION, D_COHESION = 0.05, 40.0
FOV = np.pi / 3
CUTOFF, SKIN = 45.0, 10.0
EPS = 1e-7


def make_model(box, fmt_name='Dense', capacity_multiplier=1.25):
  displacement, shift = space.periodic(box)
  fmt = getattr(partition.NeighborListFormat, fmt_name)
  if fmt is not partition.NeighborListFormat.Dense:
    raise ValueError('only the Dense format is written here')
  neighbor_fn = partition.neighbor_list(displacement, box, CUTOFF, dr_threshold=SKIN,
                                        capacity_multiplier=capacity_multiplier, format=fmt)
  pair_disp = space.map_neighbor(displacement)     # (R_i, R_j[M]) -> R_j - R_i  [M, dim] (jax-md swaps the order)

  def rho(r, D):
    return jnp.maximum(1.0 - r / D, 0.0) ** ALPHA / ALPHA

  def norm(d):
    return jnp.sqrt(jnp.sum(d * d, axis=-1) + EPS ** 2)

  def energy(R, theta, idx):
    n = R.shape[0]
    N = jnp.stack([jnp.cos(theta), jnp.sin(theta)], -1)
    valid = idx < n
    safe = jnp.where(valid, idx, 0)
    d = pair_disp(R, R[safe])                                  # R_j - R_i: [n, M, 2]
    d_fix = lax.stop_gradient(d)
    r, r_fix = norm(d), norm(d_fix)
    Nj = N[safe]
    visible = valid & (jnp.sum(d_fix * N[:, None], -1) / r_fix > jnp.cos(FOV))
    align = J_ALIGN * rho(r_fix, D_ALIGN) * (1.0 - jnp.sum(N[:, None] * Nj, -1)) ** 2
    avoid = J_AVOID * rho(r, D_AVOID)
    e_align = 0.5 * jnp.sum(jnp.where(visible, align, 0.0))
    e_avoid = 0.5 * jnp.sum(jnp.where(valid, avoid, 0.0))
    near = visible & (r_fix < D_COHESION)
    count = jnp.sum(near, -1)
    delta = jnp.sum(jnp.where(near[..., None], d_fix, 0.0), -2) / jnp.maximum(count, 1)[:, None]
    delta_hat = delta / norm(delta)[:, None]
    coh = 0.5 * J_COHESION * (1.0 - jnp.sum(delta_hat * N, -1)) ** 2
    e_coh = jnp.sum(jnp.where(count > 0, coh, 0.0))
    return e_align + e_avoid + e_coh

  grad = jax.grad(energy, argnums=(0, 1))

  def step(R, theta, nbrs):
    gR, gt = grad(R, theta, nbrs.idx)
    N = jnp.stack([jnp.cos(theta), jnp.sin(theta)], -1)
    R = shift(R, DT * (SPEED * N - gR))
    theta = theta - DT * gt
    return R, theta, nbrs.update(R)

  return neighbor_fn, step


def _block(x):
  return jax.block_until_ready(x)


def run_time(N, box, steps, fmt, min_width):
  from importlib import metadata
  neighbor_fn, step = make_model(box, fmt)
  k1, k2 = jax.random.split(jax.random.PRNGKey(0))
  R = jax.random.uniform(k1, (N, 2), maxval=box)
  theta = jax.random.uniform(k2, (N,), maxval=2 * jnp.pi)
  t0 = time.perf_counter()
  nbrs = neighbor_fn.allocate(R)
  allocate_s = time.perf_counter() - t0
  natural = nbrs.idx.shape[1]
  if natural < min_width:
    nbrs = neighbor_fn.allocate(R, extra_capacity=min_width - natural)
  step_j = jax.jit(step)
  info = dict(lib='jaxmd', N=N, box=box, format=fmt, steps_per_repeat=steps,
              jax=jax.__version__, jax_md=metadata.version('jax-md'), backend=jax.default_backend(),
              allocate_s=allocate_s, natural_width=natural, reallocations=0,
              timing='jit(step incl. nbrs.update) called per step, block_until_ready each step')
  start = (R, theta, nbrs)
  for attempt in range(5):                    # warm-up outside timing; regrow on overflow
    t0 = time.perf_counter()
    s = _block(step_j(*start))
    info['first_call_s'] = time.perf_counter() - t0
    for _ in range(19):
      s = _block(step_j(*s))
    if not bool(s[2].did_buffer_overflow):
      break
    info['reallocations'] = attempt + 1
    nbrs = neighbor_fn.allocate(start[0], extra_capacity=2 * start[2].idx.shape[1] - natural)
    start = (start[0], start[1], nbrs)
  info['nbr_idx_shape'] = list(s[2].idx.shape)
  times = []
  for _ in range(3):
    t0 = time.perf_counter()
    for _ in range(steps):
      s = _block(step_j(*s))
    times.append(time.perf_counter() - t0)
  info['overflow'] = bool(s[2].did_buffer_overflow)
  info['repeat_times_s'] = times
  info['ms_per_step'] = 1e3 * statistics.median(times) / steps
  info['polarization'] = float(jnp.linalg.norm(jnp.mean(jnp.stack([jnp.cos(s[1]), jnp.sin(s[1])], -1), 0)))
  return info


def run_check(npz, steps):
  data = np.load(npz)
  box = float(data['box'])
  neighbor_fn, step = make_model(box)
  R, theta = jnp.asarray(data['position']), jnp.asarray(data['theta'])
  nbrs = neighbor_fn.allocate(R)
  step_j = jax.jit(step)
  for _ in range(steps):
    R, theta, nbrs = step_j(R, theta, nbrs)
  return dict(lib='jaxmd', check_steps=steps, overflow=bool(nbrs.did_buffer_overflow),
              position=np.asarray(R).tolist(), theta=np.asarray(theta).tolist())


if __name__ == '__main__':
  mode = sys.argv[1]
  if mode == 'time':
    N, box, steps, fmt, width = sys.argv[2:7]
    out = run_time(int(N), float(box), int(steps), fmt, int(width))
  else:
    out = run_check(sys.argv[2], int(sys.argv[3]))
  print('RESULT ' + json.dumps(out), flush=True)
