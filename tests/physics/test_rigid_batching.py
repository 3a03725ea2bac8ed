"""`vmap(step)`: the engine's batch rule (scenes stepped together, batch as
the minor axis) must give what stepping each scene alone gives, for nested
vmaps, unbatched arguments, vmapped physical parameters and gradients."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import rigid as R
from gambol.physics.rigid import pipeline

ASSETS = pathlib.Path(__file__).parents[2] / "envs" / "assets"
B = 5


def scenes(sys, key, batch=B):
    """`batch` different states near the rest pose (moving, some in contact) and actions."""
    qp = R.default_qp(sys)
    k = jax.random.split(key, 3)
    noise = lambda kk, x: 0.3 * jax.random.uniform(kk, (batch,) + x.shape, x.dtype, -1, 1)  # noqa: E731
    qps = R.QP(pos=qp.pos + 0.05 * noise(k[0], qp.pos), rot=jnp.broadcast_to(qp.rot, (batch,) + qp.rot.shape),
               vel=noise(k[1], qp.vel) * (sys.inv_mass > 0)[:, None], ang=noise(k[2], qp.ang) * (sys.inv_mass > 0)[:, None])
    actions = jax.random.uniform(k[0], (batch, sys.action_size), qp.pos.dtype, -1, 1)
    return qps, actions


def one_step(sys, qp, action):
    return R.step_with_info(sys, qp, action)


def assert_trees_close(a, b, tol=2e-4):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


@pytest.fixture(scope="module", params=["humanoid", "grasp"])
def case(request):
    """humanoid: 1-, 2- and 3-DoF joints, sphere and capsule floor contacts;
    grasp: capsule-capsule contacts."""
    sys = R.load_system(ASSETS / f"{request.param}.toml")
    qps, actions = scenes(sys, jax.random.PRNGKey(1))
    alone = [jax.jit(one_step, static_argnums=())(sys, jax.tree.map(lambda x: x[i], qps), actions[i])
             for i in range(B)]
    return sys, qps, actions, jax.tree.map(lambda *x: jnp.stack(x), *alone)


@pytest.mark.parametrize("chunk", [None, 2])
def test_vmapped_step_equals_each_scene_stepped_alone(case, chunk, monkeypatch):
    """chunk 2: a big batch's path (two chunks of 2 through lax.map, then the rest of 1)."""
    sys, qps, actions, alone = case
    if chunk:
        monkeypatch.setattr(pipeline, "CHUNK", chunk)
    together = jax.jit(jax.vmap(lambda q, a: one_step(sys, q, a)))(qps, actions)
    assert_trees_close(together, alone)
    assert float(jnp.max(jnp.abs(alone[1].contact_vel))) > 0      # contacts were active


def test_nested_vmap_with_a_shared_action_equals_the_flat_batch(case):
    sys, qps, actions, _ = case
    grid = jax.tree.map(lambda x: jnp.stack([x, x[::-1]]), qps)                 # [2, B, ...]
    f = jax.vmap(jax.vmap(lambda q, a: one_step(sys, q, a), (0, None)), (0, None))
    nested = jax.jit(f)(grid, actions[0])
    flat = jax.jit(jax.vmap(lambda q: one_step(sys, q, actions[0])))(
        jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), grid))
    assert_trees_close(jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), nested), flat)


def test_vmapped_physical_parameters_step_each_value():
    ball = R.Body("ball", colliders=(R.Collider("sphere", radius=0.1),), position=(0, 0, 0.0))
    ground = R.Body("ground", frozen_position=(1, 1, 1), frozen_rotation=(1, 1, 1), colliders=(R.Collider("plane"),))
    sys = R.build_system(R.SystemSpec("bounce", (ball, ground), dt=0.01, substeps=4, baumgarte_erp=0.0))
    qp = R.default_qp(sys)
    qp = qp.replace(vel=qp.vel.at[0, 2].set(-2.0))
    elasticity = jnp.array([0.0, 0.5, 1.0])
    bounced = jax.jit(jax.vmap(lambda e: R.step(sys.replace(elasticity=e), qp, jnp.zeros(0))))(elasticity)
    # one impulse reverses the approach speed scaled by the elasticity: v' = e * 2 (minus gravity's h-steps)
    up = np.asarray(bounced.vel[:, 0, 2])
    assert up[0] < up[1] < up[2]
    for i, e in enumerate(np.asarray(elasticity)):
        alone = R.step(sys.replace(elasticity=e), qp, jnp.zeros(0))
        np.testing.assert_allclose(bounced.vel[i], alone.vel, atol=1e-6)


def test_gradient_through_vmapped_steps_equals_per_scene_gradients(x64):
    sys = R.load_system(ASSETS / "ant.toml", dtype=jnp.float64)
    sys = sys.replace(dt=sys.dt / 5, substeps=2)        # a short step: small programs to differentiate
    qps, actions = scenes(sys, jax.random.PRNGKey(2))

    def height(q, a):              # torso height after one step, as a function of the action
        return R.step(sys, q, a).pos[0, 2]

    batched = jax.jit(jax.grad(lambda a: jnp.sum(jax.vmap(height)(qps, a))))(actions)
    alone = jax.jit(jax.grad(height, argnums=1))
    height = jax.jit(height)
    eps = 1e-6
    for i in range(B):
        q = jax.tree.map(lambda x: x[i], qps)
        g = alone(q, actions[i])
        np.testing.assert_allclose(batched[i], g, rtol=1e-9, atol=1e-12)
        # and against central differences along a random direction
        d = jax.random.normal(jax.random.PRNGKey(i), actions[i].shape, jnp.float64)
        fd = (height(q, actions[i] + eps * d) - height(q, actions[i] - eps * d)) / (2 * eps)
        np.testing.assert_allclose(jnp.dot(g, d), fd, rtol=1e-5, atol=1e-8)
