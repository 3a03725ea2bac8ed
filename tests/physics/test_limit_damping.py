"""Joint-limit damping (`Joint.limit_damping`): a damper -c * speed on a DoF
while it is past a limit, the limit torque clipped so it never pulls the DoF
further out. A hinged rod swung into its limit: its mechanical energy
(kinetic, anchor spring, limit spring) never grows while past the limit, and with
c = 0 the limit stays (nearly) elastic; c = 0 changes nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import rigid as R

MASS, ARM, I_X = 1.0, 0.5, 0.1
I_ANCHOR = I_X + MASS * ARM ** 2                    # the rod's moment about the hinge
K_LIMIT, LIMIT, STIFFNESS = 2000.0, np.pi / 6, 1e5
CRITICAL = 2 * np.sqrt(K_LIMIT * I_ANCHOR)
SPEEDS = np.linspace(1.0, 10.0, 8)                 # rad/s into the upper limit


def _rod(c, dt=1e-3, substeps=1):
    """A rod hinged to the world 0.5 m above its centre, limits +-30 degrees,
    no gravity or contacts; a stiff anchor (1e5) so that the hinge is the only slow mode."""
    return R.build_system(R.SystemSpec(
        name="rod", bodies=(R.Body("world", frozen_position=(1, 1, 1), frozen_rotation=(1, 1, 1)),
                            R.Body("rod", mass=MASS, inertia=(I_X, I_X, 0.01))),
        joints=(R.Joint("hinge", "world", "rod", limits=((-30.0, 30.0),), child_offset=(0, 0, ARM),
                        stiffness=STIFFNESS, limit_strength=K_LIMIT, limit_damping=c),),
        dt=dt, substeps=substeps, gravity=(0, 0, 0), collisions=False))


def _swing(sys, steps=120):
    """(mechanical energy, past the limit) [speeds, steps] from 0.5 rad at each of SPEEDS."""
    qp0 = R.default_qp(sys, jnp.array([0.5]))

    def run(w):
        ang = qp0.ang.at[1, 0].set(w)
        qp = qp0.replace(ang=ang, vel=qp0.vel.at[1].set(jnp.cross(ang[1], qp0.pos[1])))

        def body(qp, _):
            qp = R.step(sys, qp, jnp.zeros(1))
            angle, _ = R.joint_angles(sys, qp)
            past = jnp.clip(angle[0], -LIMIT, LIMIT) - angle[0]
            w = R.math.inv_rotate(qp.ang[1], qp.rot[1])
            gap = qp.pos[1] + R.math.rotate(jnp.array([0.0, 0.0, ARM]), qp.rot[1])   # anchor off the origin
            kinetic = 0.5 * MASS * qp.vel[1] @ qp.vel[1] + 0.5 * w @ (sys.inertia[1] * w)
            return qp, (kinetic + 0.5 * STIFFNESS * gap @ gap + 0.5 * K_LIMIT * past ** 2, past)

        return jax.lax.scan(body, qp, None, length=steps)[1]

    energy, past = jax.jit(jax.vmap(run))(jnp.asarray(SPEEDS))
    return np.asarray(energy), np.asarray(past)


@pytest.mark.parametrize("c", [CRITICAL, 1.5 * CRITICAL])
def test_limit_damping_dissipates_while_past_the_limit(c):
    energy, past = _swing(_rod(c))
    both = (past[:, 1:] != 0) & (past[:, :-1] != 0)
    assert both.sum(axis=1).min() >= 3                               # every swing reached the limit
    growth = (np.diff(energy, axis=1) / energy[:, :1])[both]
    assert growth.max() <= 1e-5                                      # never injected while past
    assert np.all(energy[:, -1] <= 0.05 * energy[:, 0])              # the rebound keeps < 5%
    assert np.all(past[:, -1] == 0)                                  # and leaves the limit


def test_undamped_limit_is_nearly_elastic():
    energy, past = _swing(_rod(0.0))
    assert np.all((past != 0).any(axis=1))
    assert np.all(energy[:, -1] >= 0.9 * energy[:, 0])


def test_zero_limit_damping_changes_nothing():
    # a traced system runs the damper with c = 0 (a concrete one leaves the
    # term out): the same trajectory to rounding
    sys = _rod(0.0, dt=0.01, substeps=10)
    qp0 = R.default_qp(sys, jnp.array([0.5]))
    qp0 = qp0.replace(ang=qp0.ang.at[1, 0].set(8.0))
    run = lambda s: jax.lax.scan(lambda qp, _: (R.step(s, qp, jnp.zeros(1)),) * 2, qp0, None, length=40)[1]
    concrete = jax.jit(lambda: run(sys))()
    traced = jax.jit(run)(sys)
    np.testing.assert_allclose(np.asarray(traced.pos), np.asarray(concrete.pos), atol=1e-6)
    np.testing.assert_allclose(np.asarray(traced.ang), np.asarray(concrete.ang), atol=1e-4)
