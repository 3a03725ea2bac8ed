"""The rigid-body engine against closed forms, conservation laws and finite differences."""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import rigid as R
from gambol.physics.rigid import diagnostics as D

ANT = pathlib.Path(__file__).parents[2] / "envs" / "assets" / "ant.toml"
GROUND = R.Body("ground", frozen_position=(1, 1, 1), frozen_rotation=(1, 1, 1),
                colliders=(R.Collider("plane"),))
G = 9.81


def rollout(sys, qp, actions):
    """Every state of a jitted scan of `step` over actions [T, action_size]."""
    def body(qp, a):
        qp = R.step(sys, qp, a)
        return qp, qp
    return jax.jit(lambda qp, acts: jax.lax.scan(body, qp, acts)[1])(qp, actions)


def idle(sys, n):
    return jnp.zeros((n, sys.action_size))


# -- free motion ----------------------------------------------------------------

def test_free_fall_and_projectile_match_the_analytic_trajectory():
    ball = R.Body("ball", colliders=(R.Collider("sphere", radius=0.5),), position=(0, 0, 3.0))
    sys = R.build_system(R.SystemSpec("projectile", (ball,), dt=0.01, substeps=10, gravity=(0, 0, -G)))
    qp = R.default_qp(sys)
    v0 = jnp.array([1.0, -2.0, 5.0])
    tr = rollout(sys, qp.replace(vel=qp.vel.at[0].set(v0)), idle(sys, 100))
    t = 0.01 * np.arange(1, 101)
    expected = np.asarray(qp.pos[0]) + np.outer(t, v0) + np.outer(0.5 * t ** 2, [0, 0, -G])
    # symplectic Euler (position first) lags the parabola by g h t / 2, h = 1e-3
    np.testing.assert_allclose(tr.pos[:, 0], expected, atol=0.5 * G * 1e-3 * 1.0 + 1e-4)
    np.testing.assert_allclose(tr.vel[:, 0, 2], 5.0 - G * t, atol=1e-4)
    assert qp.pos[0, 2] == pytest.approx(3.5)      # spec position z = clearance of the lowest point


# -- resting contact ------------------------------------------------------------

@pytest.mark.parametrize("shape", [R.Collider("box", halfsize=(0.3, 0.2, 0.1)),
                                   R.Collider("sphere", radius=0.2),
                                   R.Collider("capsule", radius=0.1, length=0.6, rotation=(0, 90, 0))])
def test_bodies_at_rest_on_a_plane_stay_at_rest_for_10000_steps(shape):
    body = R.Body("b", mass=2.0, inertia=(0.2, 0.3, 0.4), colliders=(shape,))
    sys = R.build_system(R.SystemSpec("rest", (body, GROUND), dt=0.01, substeps=10))
    qp = R.default_qp(sys)
    tr = rollout(sys, qp, idle(sys, 10_000))
    pos = np.asarray(tr.pos[:, 0])
    # stated bounds: sinks at most 1 mm into the plane, no horizontal drift, no spin
    assert np.all(np.abs(pos[:, 2] - float(qp.pos[0, 2])) < 1e-3)
    assert np.abs(pos[:, :2]).max() < 1e-5
    assert np.abs(np.asarray(tr.vel[-100:])).max() < 1e-3
    assert np.abs(np.asarray(tr.ang[-100:])).max() < 1e-3
    np.testing.assert_allclose(np.abs(tr.rot[-1, 0, 0]), 1.0, atol=1e-5)


def test_sphere_bounces_per_its_elasticity():
    e, height = 0.5, 1.0
    ball = R.Body("ball", inertia=(0.1,) * 3, colliders=(R.Collider("sphere", radius=0.5),),
                  position=(0, 0, height))
    # no Baumgarte term: it would add its own rebound velocity to e's
    sys = R.build_system(R.SystemSpec("bounce", (ball, GROUND), dt=0.01, substeps=10,
                                      elasticity=e, baumgarte_erp=0.0, gravity=(0, 0, -G)))
    tr = rollout(sys, R.default_qp(sys), idle(sys, 150))
    vz, z = np.asarray(tr.vel[:, 0, 2]), np.asarray(tr.pos[:, 0, 2]) - 0.5
    hit = int(np.argmax(vz > 0))
    assert vz[hit - 1] == pytest.approx(-np.sqrt(2 * G * height), rel=0.03)
    assert -vz[hit] / vz[hit - 1] == pytest.approx(e, abs=0.03)
    assert z[hit:].max() == pytest.approx(e ** 2 * height, rel=0.05)


def test_friction_stops_a_sliding_box_at_the_coulomb_distance():
    mu, v0 = 0.5, 3.0
    box = R.Body("box", mass=2.0, inertia=(0.2, 0.3, 0.4),
                 colliders=(R.Collider("box", halfsize=(0.3, 0.2, 0.1)),))
    sys = R.build_system(R.SystemSpec("slide", (box, GROUND), dt=0.01, substeps=10, friction=mu,
                                      plane_friction_scale=1.0, gravity=(0, 0, -G)))
    qp = R.default_qp(sys)
    tr = rollout(sys, qp.replace(vel=qp.vel.at[0, 0].set(v0)), idle(sys, 200))
    x = np.asarray(tr.pos[:, 0, 0])
    assert x[-1] == pytest.approx(v0 ** 2 / (2 * mu * G), rel=0.05)
    stop = v0 / (mu * G)                                # 0.61 s
    assert abs(float(tr.vel[-1, 0, 0])) < 1e-3 and x[-1] - x[int(stop / 0.01) + 10] < 1e-3


# -- joints ---------------------------------------------------------------------

def pendulum_spec(length=1.0, limits=(-180.0, 180.0), actuator=False, **joint):
    pivot = R.Body("pivot", frozen_position=(1, 1, 1), frozen_rotation=(1, 1, 1), position=(0, 0, 2))
    bob = R.Body("bob", mass=1.0, inertia=(0.1, 0.1, 0.1))
    hinge = R.Joint("hinge", "pivot", "bob", limits=(limits,), child_offset=(0.0, 0.0, length),
                    stiffness=joint.pop("stiffness", 1e4), **joint)
    acts = (R.Actuator("motor", "hinge", strength=10.0),) if actuator else ()
    return R.SystemSpec("pendulum", (pivot, bob), (hinge,), acts, dt=0.01, substeps=10,
                        gravity=(0, 0, -G))


def swing(sys, angle):
    """The pendulum's rest pose turned by `angle` about the hinge (x) axis."""
    qp = R.default_qp(sys)
    q = R.math.axis_angle(jnp.array([1.0, 0.0, 0.0], qp.pos.dtype), angle)
    pivot = qp.pos[0]
    return qp.replace(pos=qp.pos.at[1].set(pivot + R.math.rotate(qp.pos[1] - pivot, q)),
                      rot=qp.rot.at[1].set(q))


def test_pendulum_matches_the_small_angle_period_and_holds_its_anchor():
    length, inertia = 1.0, 0.1
    sys = R.build_system(pendulum_spec(length))
    tr = rollout(sys, swing(sys, 0.1), idle(sys, 600))
    angle = np.asarray(jax.vmap(lambda q: R.joint_angles(sys, q)[0])(tr))[:, 0]
    crossings = np.where(np.diff(np.sign(angle)) > 0)[0]
    period = np.mean(np.diff(crossings)) * 0.01
    expected = 2 * np.pi * np.sqrt((inertia + length ** 2) / (G * length))   # physical pendulum
    assert period == pytest.approx(expected, rel=0.02)
    assert np.abs(angle).max() == pytest.approx(0.1, rel=0.05)      # undamped swing keeps its amplitude
    err = np.asarray(jax.vmap(lambda q: D.anchor_error(sys, q))(tr))
    assert err.max() < 2e-3                      # stated bound: 2 mm at k = 1e4


def test_angle_limits_hold_against_gravity_and_a_motor():
    sys = R.build_system(pendulum_spec(limits=(-20.0, 20.0), actuator=True, stiffness=5000.0))
    qp = swing(sys, 0.0)
    for push in (1.0, -1.0):
        tr = rollout(sys, qp, jnp.full((300, 1), push))
        angle = np.degrees(np.asarray(jax.vmap(lambda q: R.joint_angles(sys, q)[0])(tr))[:, 0])
        assert push * angle[-1] == pytest.approx(20.0, abs=2.0)       # rests at the limit
        assert np.abs(angle).max() < 23.0                             # overshoot under 3 degrees


# -- conservation ---------------------------------------------------------------

@pytest.fixture(scope="module")
def astronaut():
    """The ant floating: no gravity, no damping of the bodies, no contacts."""
    spec = R.load_spec(ANT)
    spec = dataclasses.replace(spec, bodies=tuple(b for b in spec.bodies if b.name != "Ground"),
                               gravity=(0.0, 0.0, 0.0), angular_damping=0.0, collisions=False,
                               collide_include=())
    return R.build_system(spec)


def test_astronaut_conserves_momentum_under_random_actuation(astronaut):
    sys = astronaut
    actions = jax.random.uniform(jax.random.PRNGKey(0), (500, 8), minval=-1, maxval=1)
    tr = rollout(sys, R.default_qp(sys), actions)
    p = np.asarray(jax.vmap(lambda q: D.momentum(sys, q))(tr))
    L = np.asarray(jax.vmap(lambda q: D.angular_momentum(sys, q))(tr))
    assert np.abs(p).max() < 1e-4                    # float32 round-off, 18 kg of ant
    assert np.abs(L).max() < 1e-3                    # stated bound on angular momentum drift
    assert np.abs(np.asarray(tr.vel)).max() > 0.5    # the actuators really moved the ant


def test_energy_after_a_random_kick_stays_bounded(astronaut):
    spec = astronaut.spec
    free = tuple(dataclasses.replace(j, angular_damping=0.0, spring_damping=0.0,
                                     limits=((-180.0, 180.0),)) for j in spec.joints)
    sys = R.build_system(dataclasses.replace(spec, joints=free, actuators=()))
    qp = R.default_qp(sys)
    kv, ka = jax.random.split(jax.random.PRNGKey(1))
    qp = qp.replace(vel=0.5 * jax.random.normal(kv, qp.vel.shape),
                    ang=0.5 * jax.random.normal(ka, qp.ang.shape))
    tr = rollout(sys, qp, idle(sys, 1000))
    energy = np.asarray(jax.vmap(lambda q: D.kinetic_energy(sys, q) + D.spring_energy(sys, q))(tr))
    e0 = float(D.kinetic_energy(sys, qp))
    # stated bounds: the stiff springs exchange energy with the kinetic part at
    # symplectic-Euler accuracy; no secular drift after 50 s of simulated time
    assert np.abs(energy / e0 - 1).max() < 0.2
    assert abs(energy[-100:].mean() / e0 - 1) < 0.05
    np.testing.assert_allclose(jax.vmap(lambda q: D.momentum(sys, q))(tr), 
                               np.broadcast_to(D.momentum(sys, qp), (1000, 3)), atol=1e-3)


# -- gradients --------------------------------------------------------------------

def test_gradients_through_a_rollout_match_finite_differences(x64):
    if True:
        sys = R.build_system(pendulum_spec(stiffness=2000.0, actuator=True))
        assert sys.mass.dtype == jnp.float64
        qp0 = swing(sys, 0.3)

        @jax.jit
        def final_angle(v_bob, torque):
            qp = qp0.replace(vel=qp0.vel.at[1].set(v_bob))
            def body(qp, _):
                return R.step(sys, qp, torque), None
            qp, _ = jax.lax.scan(body, qp, None, length=20)
            return R.joint_angles(sys, qp)[0][0] + 0.1 * qp.pos[1, 1]

        v, u = jnp.array([0.0, 0.3, -0.2]), jnp.array([0.4])
        gv, gu = jax.grad(final_angle, argnums=(0, 1))(v, u)
        eps = 1e-6
        fd_v = [(final_angle(v.at[i].add(eps), u) - final_angle(v.at[i].add(-eps), u)) / (2 * eps)
                for i in range(3)]
        fd_u = (final_angle(v, u + eps) - final_angle(v, u - eps)) / (2 * eps)
        np.testing.assert_allclose(gv, fd_v, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(gu, [fd_u], rtol=1e-5)
        assert abs(float(gu[0])) > 1e-3 and np.abs(np.asarray(gv)).max() > 1e-3


# -- a long articulated run -------------------------------------------------------

def test_no_ant_foot_or_torso_sinks_into_the_floor_over_256_random_action_runs():
    """The invariant over many seeds at once (any CPU's rounding gives some other
    set of chaotic trajectories, the statistics hold): 256 ants x 2,000 random-
    action steps from the rest pose, every collider that collides with the floor
    stays within 5 cm of it (the one-ended shin contacts of the Brax paper let
    about 1 run in 20 put a shin 25 cm under the floor within 20,000 steps)."""
    sys = R.load_system(ANT)
    n = 256
    penetration = jax.vmap(lambda qp: D.plane_penetration(sys, qp))

    @jax.jit
    def chunk(qp, key):
        def body(carry, key):
            qp, deepest = carry
            qp = R.step_batch(sys, qp, jax.random.uniform(key, (n, 8), minval=-1, maxval=1))
            return (qp, jnp.maximum(deepest, penetration(qp))), None
        return jax.lax.scan(body, (qp, jnp.zeros(n)), jax.random.split(key, 500))[0]

    qp = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), R.default_qp(sys))
    deepest = np.zeros(n)
    for key in jax.random.split(jax.random.PRNGKey(0), 4):
        qp, d = chunk(qp, key)
        deepest = np.maximum(deepest, np.asarray(d))
    assert np.all(np.isfinite(np.asarray(qp.pos))) and np.all(np.isfinite(np.asarray(qp.vel)))
    assert deepest.max() < 0.05, f"deepest {deepest.max():.3f} m in run {deepest.argmax()}"
    assert np.mean(deepest) < 0.02


def test_a_capsule_under_the_floor_end_first_is_pushed_out_whichever_end_is_down():
    """The failure behind the sinking ants, in isolation: a shin (a capsule whose
    `end` = -1 marks its foot) with its other end 10 cm under the floor and its foot
    above. Both end spheres collide, so the buried end is pushed out; with only
    the foot colliding it stayed under the floor for good."""
    for end in (-1, 0, 1):
        shin = R.Body("shin", mass=1.0, colliders=(R.Collider("capsule", radius=0.08, length=0.7, end=end),),
                      position=(0.0, 0.0, 0.0), rotation=(-150.0, 0.0, 0.0))
        sys = R.build_system(R.SystemSpec("shin", (shin, GROUND), dt=0.01, substeps=8))
        qp = R.default_qp(sys)
        ends = qp.pos[0] + jnp.array([[1.0], [-1.0]]) * R.math.rotate(jnp.array([0.0, 0.0, 0.27]), qp.rot[0])
        low = int(jnp.argmin(ends[:, 2]))
        # bury the lower end sphere 10 cm deep
        qp = qp.replace(pos=qp.pos.at[0, 2].add(-(ends[low, 2] - 0.08) - 0.10))
        assert abs(float(D.plane_penetration(sys, qp)) - 0.10) < 1e-5
        qps = rollout(sys, qp, idle(sys, 200))
        depth = np.asarray(jax.vmap(lambda q: D.plane_penetration(sys, q))(qps))
        assert depth[-1] < 0.01, (end, depth[-1])
        assert np.all(np.diff(depth[:20]) <= 1e-6), end        # pushed out monotonically, not pulled in
