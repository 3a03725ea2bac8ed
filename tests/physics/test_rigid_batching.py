"""`step` (one scene, a plain function) and `step_batch` (a batch, batch-minor
inside): the same physics for every scene, under default `vmap`, chunked or
whole, with vmapped physical parameters; forward- and reverse-mode derivatives
through joints, limits and contacts against finite differences; shape errors."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import rigid as R

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


def assert_trees_close(a, b, tol=2e-4):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


@pytest.fixture(scope="module", params=["humanoid", "grasp"])
def case(request):
    """humanoid: 1-, 2- and 3-DoF joints, sphere and capsule floor contacts;
    grasp: capsule-capsule contacts."""
    sys = R.load_system(ASSETS / f"{request.param}.toml")
    qps, actions = scenes(sys, jax.random.PRNGKey(1))
    one = jax.jit(lambda q, a: R.step_with_info(sys, q, a))
    alone = [one(jax.tree.map(lambda x: x[i], qps), actions[i]) for i in range(B)]
    return sys, qps, actions, jax.tree.map(lambda *x: jnp.stack(x), *alone)


@pytest.mark.parametrize("chunk", [None, 2])
def test_step_batch_equals_each_scene_stepped_alone(case, chunk):
    """chunk 2: a big batch's path (two chunks of 2 through lax.map, then the rest of 1)."""
    sys, qps, actions, alone = case
    together = jax.jit(lambda q, a: R.step_batch_with_info(sys, q, a, chunk=chunk))(qps, actions)
    assert_trees_close(together, alone)
    assert float(jnp.max(jnp.abs(alone[1].contact_vel))) > 0      # contacts were active


def test_default_vmap_of_step_equals_each_scene_stepped_alone(case):
    sys, qps, actions, alone = case
    assert_trees_close(jax.jit(jax.vmap(lambda q, a: R.step_with_info(sys, q, a)))(qps, actions), alone)


def test_step_info_carries_the_joint_angles_of_the_new_state(case):
    sys, _, _, alone = case
    for i in range(2):
        qp = jax.tree.map(lambda x: x[i], alone[0])
        angles, speeds = R.joint_angles(sys, qp)
        np.testing.assert_allclose(alone[1].joint_angle[i], angles, atol=1e-5)
        np.testing.assert_allclose(alone[1].joint_speed[i], speeds, atol=1e-4)


def test_nested_vmap_of_step_batch_equals_the_flat_batch(case):
    sys, qps, actions, _ = case
    grid = jax.tree.map(lambda x: jnp.stack([x, x[::-1]]), qps)                 # [2, B, ...]
    nested = jax.jit(jax.vmap(lambda q, a: R.step_batch(sys, q, a)))(grid, jnp.stack([actions, actions[::-1]]))
    flat = jax.jit(lambda q, a: R.step_batch(sys, q, a))(
        jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), grid), jnp.concatenate([actions, actions[::-1]]))
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
    # a traced system through step_batch: the same numbers
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (3,) + x.shape), qp)
    through_batch = jax.jit(jax.vmap(lambda e, q: R.step_batch(sys.replace(elasticity=e), jax.tree.map(lambda x: x[None], q), jnp.zeros((1, 0)))))(
        elasticity, batch)
    np.testing.assert_allclose(through_batch.vel[:, 0], bounced.vel, atol=1e-6)


def test_a_scene_where_a_batch_is_expected_and_the_reverse_raise_with_the_shapes():
    sys = R.load_system(ASSETS / "ant.toml")
    qp = R.default_qp(sys)
    batch = jax.tree.map(lambda x: x[None].repeat(4, 0), qp)
    with pytest.raises(ValueError, match=r"step: qp.pos expected shape \(10, 3\).*got \(4, 10, 3\).*step_batch"):
        R.step(sys, batch, jnp.zeros((4, 8)))
    with pytest.raises(ValueError, match=r"step: action expected shape \(8,\).*got \(7,\)"):
        R.step(sys, qp, jnp.zeros(7))
    with pytest.raises(ValueError, match=r"step_batch: action expected shape \(batch, 8\), got \(8,\).*use step"):
        R.step_batch(sys, qp, jnp.zeros(8))
    with pytest.raises(ValueError, match=r"step_batch: qp.pos expected shape \(3, 10, 3\).*got \(4, 10, 3\)"):
        R.step_batch(sys, batch, jnp.zeros((3, 8)))
    with pytest.raises(ValueError, match="chunk expected a positive int"):
        R.step_batch(sys, batch, jnp.zeros((4, 8)), chunk=0)


# -- derivatives, float64 -------------------------------------------------------

@pytest.fixture(scope="module")
def short_ant(x64_module):
    """The ant with a short step (small programs to differentiate), in float64, and
    scenes whose feet touch the floor and whose knees sit at their limits."""
    sys = R.load_system(ASSETS / "ant.toml", dtype=jnp.float64)
    sys = sys.replace(dt=sys.dt / 5, substeps=2)
    qps, actions = scenes(sys, jax.random.PRNGKey(2))
    return sys, qps, actions


def _state(sys, x, qp):
    """qp with velocities from a flat vector x: the input the derivatives are taken in."""
    n = sys.num_bodies
    return qp.replace(vel=x[:3 * n].reshape(n, 3), ang=x[3 * n:].reshape(n, 3))


def test_jvp_and_grad_of_step_match_central_differences(short_ant):
    """Forward (jvp, jacfwd) and reverse (grad) mode agree with each other and with
    central differences, on scenes with active floor contacts and knee limits."""
    sys, qps, actions = short_ant
    mid = lambda x: jnp.array([0.0, 0.0, 1.0]) @ x.pos[0] + x.pos[2, 0] + x.rot[4, 1]  # noqa: E731

    def out(x, a, qp):        # a smooth readout of the next state
        nxt = R.step(sys, _state(sys, x, qp), a)
        return mid(nxt) + jnp.sum(nxt.vel[:, 2] ** 2) * 0.01

    grad = jax.jit(jax.grad(out, argnums=(0, 1)))
    jvp = jax.jit(lambda x, a, qp, dx, da: jax.jvp(lambda x, a: out(x, a, qp), (x, a), (dx, da))[1])
    f = jax.jit(out)
    eps = 1e-6
    for i in range(3):
        qp, a = jax.tree.map(lambda x: x[i], qps), actions[i]
        contact = R.step_with_info(sys, qp, a)[1]
        assert float(jnp.max(jnp.abs(contact.contact_vel))) > 0 or i > 0
        x = jnp.concatenate([qp.vel.reshape(-1), qp.ang.reshape(-1)])
        dx = jax.random.normal(jax.random.PRNGKey(10 + i), x.shape, jnp.float64)
        da = jax.random.normal(jax.random.PRNGKey(20 + i), a.shape, jnp.float64)
        fd = (f(x + eps * dx, a + eps * da, qp) - f(x - eps * dx, a - eps * da, qp)) / (2 * eps)
        gx, ga = grad(x, a, qp)
        forward = jvp(x, a, qp, dx, da)
        np.testing.assert_allclose(forward, fd, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(jnp.dot(gx, dx) + jnp.dot(ga, da), forward, rtol=1e-9, atol=1e-12)


def test_derivatives_of_a_multi_step_batched_rollout_match_central_differences(short_ant):
    """jacfwd and grad through 2 steps of `step_batch` (contacts and limits on the way)."""
    sys, qps, actions = short_ant

    def final_height(a):        # a: [B, A], held for 4 steps
        def body(q, _):
            return R.step_batch(sys, q, a, chunk=None), None
        q = jax.lax.scan(body, qps, None, length=2)[0]
        return q.pos[:, 0, 2] + 0.5 * q.pos[:, 3, 0]

    jac = jax.jit(jax.jacfwd(final_height))(actions)                        # [B, B, A]
    grad = jax.jit(jax.grad(lambda a: jnp.sum(final_height(a))))(actions)
    np.testing.assert_allclose(jnp.einsum("ija->ja", jac), grad, rtol=1e-8, atol=1e-11)
    off_diagonal = jac * (1 - jnp.eye(B))[:, :, None]
    assert float(jnp.max(jnp.abs(off_diagonal))) == 0.0                        # scenes are independent
    f = jax.jit(final_height)
    eps = 1e-6
    d = jax.random.normal(jax.random.PRNGKey(3), actions.shape, jnp.float64)
    fd = (f(actions + eps * d) - f(actions - eps * d)) / (2 * eps)
    np.testing.assert_allclose(jnp.einsum("ija,ja->i", jac, d), fd, rtol=1e-5, atol=1e-8)


def test_hessian_through_a_bounce_is_symmetric_and_matches_differences_of_gradients(x64):
    """forward-over-reverse (`jax.hessian`) through a contact: a ball thrown at the floor."""
    ball = R.Body("ball", colliders=(R.Collider("sphere", radius=0.1),), position=(0, 0, 0.0))
    ground = R.Body("ground", frozen_position=(1, 1, 1), frozen_rotation=(1, 1, 1), colliders=(R.Collider("plane"),))
    sys = R.build_system(R.SystemSpec("bounce", (ball, ground), dt=0.01, substeps=4, elasticity=0.5), jnp.float64)
    qp = R.default_qp(sys)

    def landing(v):          # where the ball is after one step, thrown with velocity v into the floor
        q = R.step(sys, qp.replace(vel=qp.vel.at[0].set(v)), jnp.zeros(0))
        return q.pos[0, 2] * q.pos[0, 0] + q.vel[0, 2] ** 2

    v = jnp.array([0.7, 0.2, -1.5])
    h = jax.jit(jax.hessian(landing))(v)
    g = jax.jit(jax.grad(landing))
    eps = 1e-6
    fd = jnp.stack([(g(v + eps * e) - g(v - eps * e)) / (2 * eps) for e in jnp.eye(3)])
    np.testing.assert_allclose(h, h.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(h, fd, rtol=1e-5, atol=1e-7)
    assert R.step_with_info(sys, qp.replace(vel=qp.vel.at[0].set(v)), jnp.zeros(0))[1].contact_vel[0, 2] > 0


def test_no_module_of_gambol_reaches_into_jax_internals():
    """Only public jax API: the step must keep working across jax releases, which move
    `jax.interpreters`, `jax.extend.core` and `jax.core`'s classes between versions."""
    root = pathlib.Path(__file__).parents[2]
    banned = ("jax.interpreters", "jax.extend.core", "jax.core", "jax._src", "Primitive(",
              "custom_vmap", "custom_batching")
    offenders = [f"{path.relative_to(root)}: {word}"
                 for folder in ("physics", "envs", "agents", "training", "gambol")
                 for path in sorted((root / folder).rglob("*.py"))
                 for word in banned if word in path.read_text()]
    assert not offenders, offenders
