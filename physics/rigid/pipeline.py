"""One step of the spring engine: `substeps` repetitions of three phases.

Per substep of length h = dt / substeps (the Brax paper's order):
1. kinematic: x += v h; q <- normalize(q + ½ h (0, ω) ⊗ q);
2. potential: joint springs, limits and actuators give forces F and torques τ;
   v <- e^{-c_v h} v + (F/m + g) h, ω <- e^{-c_ω h} ω + I⁻¹(τ - ω × Iω) h
   (symplectic Euler: the forces see the new positions);
3. contacts: velocity-level impulses with Baumgarte stabilisation.
Frozen world axes are masked out of every update.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from gambol.physics.rigid.contacts import detect, impulses
from gambol.physics.rigid.joints import joint_forces
from gambol.physics.rigid.math import cross, integrate_rotation, inv_rotate, rotate
from gambol.physics.rigid.qp import QP


@struct.dataclass
class StepInfo:
    """What a step did, summed over its substeps: contact velocity changes
    (dvel, dang: [B, 3]; the Brax paper's envs observe these) and the number
    of active contacts per body [B]."""
    contact_vel: jnp.ndarray
    contact_ang: jnp.ndarray


def kinematic(sys, qp: QP, h) -> QP:
    ang = qp.ang * sys.free_rotation
    return qp.replace(pos=qp.pos + qp.vel * sys.free_position * h,
                      rot=integrate_rotation(qp.rot, ang, h))


def potential(sys, qp: QP, action, h) -> QP:
    force, torque = joint_forces(sys, qp, action)
    vel = jnp.exp(-sys.linear_damping * h) * qp.vel + (force * sys.inv_mass[:, None] + sys.gravity) * h
    # Euler's equations in the body frame: I dω/dt = τ - ω × Iω
    w = inv_rotate(qp.ang, qp.rot)
    dw = sys.inv_inertia * (inv_rotate(torque, qp.rot) - cross(w, sys.inertia * w))
    ang = jnp.exp(-sys.angular_damping * h) * qp.ang + rotate(dw, qp.rot) * h
    return qp.replace(vel=vel * sys.free_position, ang=ang * sys.free_rotation)


def collide(sys, qp: QP, h):
    dvel, dang = impulses(sys, qp, detect(sys, qp), h)
    dvel, dang = dvel * sys.free_position, dang * sys.free_rotation
    return qp.replace(vel=qp.vel + dvel, ang=qp.ang + dang), (dvel, dang)


def step_with_info(sys, qp: QP, action) -> tuple[QP, StepInfo]:
    """Advance `qp` by `sys.dt`. action: [sys.action_size]."""
    if action.shape != (sys.action_size,):
        raise ValueError(f"step: action expected shape ({sys.action_size},) for system "
                         f"{sys.spec.name!r}, got {action.shape}")
    h = sys.dt / sys.substeps

    def substep(carry, _):
        qp, dvel_sum, dang_sum = carry
        qp = kinematic(sys, qp, h)
        qp = potential(sys, qp, action, h)
        qp, (dvel, dang) = collide(sys, qp, h)
        return (qp, dvel_sum + dvel, dang_sum + dang), None

    zero = jnp.zeros_like(qp.vel)
    (qp, dvel, dang), _ = jax.lax.scan(substep, (qp, zero, zero), None, length=sys.substeps)
    return qp, StepInfo(dvel, dang)


def step(sys, qp: QP, action) -> QP:
    """Advance `qp` by `sys.dt` (`sys.substeps` substeps). action: [sys.action_size]."""
    return step_with_info(sys, qp, action)[0]
