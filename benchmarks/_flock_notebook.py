"""A replica of the JAX MD flocking notebook's final boids model, run in jax-md's venv: the fixture
that tests/envs/test_flocking.py checks gambol's `boids` against.

The notebook (jax-md repo, notebooks/flocking.ipynb; JAX MD paper, section 4.3) builds its boids
model cell by cell; this is its last boids-only version (alignment, avoidance, cohesion, field of
view; no obstacles, no predators), rewritten here from its definitions with jax_md's primitives and
the notebook's own choices kept, quirks included:

  * all pairs, through `space.map_product(displacement)`: dR[i, j] = R_j - R_i (self included);
  * field of view: cos(angle between dR_ij and N_i) in (cos(pi/3), cos(0)); the self pair (0/0)
    is never in view;
  * alignment (J 12, D 45, alpha 3) on the stop-gradiented dR, times the view mask;
    avoidance (J 25, D 30, alpha 3); both summed over all ordered pairs with a factor 1/2;
  * cohesion (J 0.05, D 40): the mean of the visible dR within D, count + 1e-7 in the
    denominator, normalised by |mean + 1e-7| (the epsilon added to each component);
  * overdamped forward Euler, dt 0.1, speed 1: R <- shift(R, dt (v N - dE/dR)),
    theta <- theta - dt dE/dtheta;
  * float64 (the notebook enables jax_enable_x64); N = 200 boids in an 800 box, initial state
    from PRNGKey(0) split three ways (R = 800 U[0,1)^2, theta = 2 pi U[0,1)).

The random bits of PRNGKey(0) depend on the jax release (threefry partitionable since 0.5), so the
fixture stores the initial state it started from; the test starts gambol there.

Regenerate the fixture (a few seconds; the venv is made by benchmarks/_common.py on first use):

  python3 -c "import sys; sys.path.insert(0, 'benchmarks'); import _common; \\
      print(_common.peer_python(_common.DEFAULT_ANCHORS, 'jaxmd'))"      # -> JAXMD_PY
  JAX_PLATFORMS=cpu $JAXMD_PY benchmarks/_flock_notebook.py tests/envs/data/flock_notebook.npz

Output: npz with `position` [200, 2] and `theta` [200] (the start), `box`, `dt`, and
`polarization` [steps + 1] (|mean_i N_i| at steps 0..steps), plus the jax / jax-md versions.
Imports only jax, numpy and jax_md (never gambol).
"""
import sys
from importlib import metadata

import jax

jax.config.update('jax_enable_x64', True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from jax_md import space  # noqa: E402

BOX, COUNT, STEPS, DT, SPEED = 800.0, 200, 3000, 0.1, 1.0
ALPHA = 3.0
J_ALIGN, D_ALIGN = 12.0, 45.0
J_AVOID, D_AVOID = 25.0, 30.0
J_COHESION, D_COHESION = 0.05, 40.0
FOV_MIN, FOV_MAX = 0.0, np.pi / 3
EPS = 1e-7


def headings(theta):
  return jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)


def in_view(dR, N):
  """dR [n, n, 2] from i to j, N [n, 2]: j inside i's cone of view (self pair excluded by 0/0)."""
  cos_angle = jnp.sum(dR / space.distance(dR)[..., None] * N[:, None], axis=-1)
  return (cos_angle > jnp.cos(FOV_MAX)) & (cos_angle < jnp.cos(FOV_MIN))


def pair_term(r, J, D):
  """(J / alpha) (1 - r / D)^alpha inside D, else 0."""
  x = r / D
  return jnp.where(x < 1.0, J / ALPHA * (1.0 - x) ** ALPHA, 0.0)


def make_energy(displacement):
  all_pairs = space.map_product(displacement)

  def energy(R, theta):
    dR = all_pairs(R, R)                                        # [n, n, 2]: R_j - R_i
    dR_fixed = lax.stop_gradient(dR)
    N = headings(theta)
    view = in_view(dR, N)
    misalign = (1.0 - jnp.sum(N[:, None] * N[None], axis=-1)) ** 2
    align = pair_term(space.distance(dR_fixed), J_ALIGN, D_ALIGN) * misalign * view
    avoid = pair_term(space.distance(dR), J_AVOID, D_AVOID)
    near = view & (space.distance(dR_fixed) < D_COHESION)
    count = jnp.sum(near, axis=1)
    centre = jnp.sum(jnp.where(near[..., None], dR_fixed, 0.0), axis=1) / (count[:, None] + EPS)
    centre = centre / jnp.linalg.norm(centre + EPS, axis=1, keepdims=True)
    cohesion = 0.5 * J_COHESION * (1.0 - jnp.sum(centre * N, axis=1)) ** 2
    return 0.5 * jnp.sum(align + avoid) + jnp.sum(cohesion)

  return energy


def run(steps=STEPS):
  displacement, shift = space.periodic(BOX)
  grad = jax.grad(make_energy(displacement), argnums=(0, 1))
  _, kR, kT = jax.random.split(jax.random.PRNGKey(0), 3)
  R0 = BOX * jax.random.uniform(kR, (COUNT, 2))
  theta0 = jax.random.uniform(kT, (COUNT,), maxval=2.0 * np.pi)

  def step(state, _):
    R, theta = state
    gR, gtheta = grad(R, theta)
    R = shift(R, DT * (SPEED * headings(theta) - gR))
    theta = theta - DT * gtheta
    return (R, theta), jnp.linalg.norm(jnp.mean(headings(theta), axis=0))

  _, pol = jax.jit(lambda s: lax.scan(step, s, None, length=steps))((R0, theta0))
  pol0 = jnp.linalg.norm(jnp.mean(headings(theta0), axis=0))
  return dict(position=np.asarray(R0), theta=np.asarray(theta0), box=np.float64(BOX), dt=np.float64(DT),
              polarization=np.concatenate([[float(pol0)], np.asarray(pol)]),
              jax=jax.__version__, jax_md=metadata.version('jax-md'))


if __name__ == '__main__':
  out = sys.argv[1] if len(sys.argv) > 1 else 'flock_notebook.npz'
  data = run(int(sys.argv[2]) if len(sys.argv) > 2 else STEPS)
  assert data['position'].dtype == np.float64, 'x64 did not take effect'
  np.savez_compressed(out, **data)
  p = data['polarization']
  print(f'wrote {out}: polarization at 0/600/1000/2000/3000 = '
        f'{p[0]:.4f} {p[600]:.4f} {p[1000]:.4f} {p[2000]:.4f} {p[-1]:.4f} (jax {data["jax"]}, '
        f'jax-md {data["jax_md"]})')
