"""One step of the spring engine: `substeps` repetitions of three phases.

Per substep of length h = dt / substeps (the Brax paper's order):
1. kinematic: x += v h; q <- normalize(q + ½ h (0, ω) ⊗ q);
2. potential: joint springs, limits and actuators give forces F and torques τ;
   v <- e^{-c_v h} v + (F/m + g) h, ω <- e^{-c_ω h} ω + I⁻¹(τ - ω × Iω) h
   (symplectic Euler: the forces see the new positions);
3. contacts: velocity-level impulses with Baumgarte stabilisation.
Frozen world axes are masked out of every update.

Two entry points, one set of equations:
- `step(sys, qp, action)`: one scene, a plain function of jax.numpy, so
  `jax.vmap`, `grad`, `jvp`, `jacfwd` and `hessian` all go through it as they
  would through any function (under `vmap` with vmap's batch-major layout).
- `step_batch(sys, qp, action)`: a batch of scenes [B, ...] stepped with the
  batch as the minor axis of every array (components first, `layout.py`),
  which XLA:CPU vectorises (about 2x faster than `vmap(step)` on a CPU). On a
  CPU the batch runs in chunks of `CHUNK_BY_BACKEND["cpu"]` scenes whose working
  set stays in cache; on a GPU or TPU it is one program. Batch-aware envs reach
  it through `Env.step_batch` (see `envs/base.py`).

A concrete `System` (closed over, not a traced argument) enters the program as
constants, folded once by `layout.internal_system`; a traced one (vmapped or
differentiated physical parameters) runs the same code on traced arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from gambol.physics.rigid.contacts import detect_internal, impulses
from gambol.physics.rigid.joints import actuation, joint_forces, slot_angles
from gambol.physics.rigid.layout import internal_system
from gambol.physics.rigid.qp import QP
from gambol.physics.rigid.component_first import cross, integrate_rotation, inv_rotate, rotate


@struct.dataclass
class StepInfo:
    """What a step did and where it left the joints (leading batch axes as the
    state's): the contact velocity changes summed over its substeps
    (contact_vel, contact_ang: [bodies, 3]; the Brax paper's envs observe these)
    and every joint DoF's angle and speed at its end (joint_angle, joint_speed:
    [action_size], radians and radians per second, as `joint_angles`)."""
    contact_vel: jnp.ndarray
    contact_ang: jnp.ndarray
    joint_angle: jnp.ndarray
    joint_speed: jnp.ndarray


# -- the substep, in the internal layout: qp [3 or 4, bodies, envs], action [A, envs]

def kinematic(sys, qp: QP, h) -> QP:
    return qp.replace(pos=qp.pos + qp.vel * sys.free_position * h,
                      rot=integrate_rotation(qp.rot, qp.ang * sys.free_rotation, h))


def potential(sys, qp: QP, actuations, h) -> QP:
    force, torque = joint_forces(sys, qp, actuations)
    vel = jnp.exp(-sys.linear_damping * h) * qp.vel + (force * sys.inv_mass + sys.gravity) * h
    # Euler's equations in the body frame: I dω/dt = τ - ω × Iω
    w = inv_rotate(qp.ang, qp.rot)
    dw = sys.inv_inertia * (inv_rotate(torque, qp.rot) - cross(w, sys.inertia * w))
    ang = jnp.exp(-sys.angular_damping * h) * qp.ang + rotate(dw, qp.rot) * h
    return qp.replace(vel=vel * sys.free_position, ang=ang * sys.free_rotation)


def collide(sys, qp: QP, h):
    dvel, dang = impulses(sys, qp, detect_internal(sys, qp), h)
    dvel, dang = dvel * sys.free_position, dang * sys.free_rotation
    return qp.replace(vel=qp.vel + dvel, ang=qp.ang + dang), (dvel, dang)


def _unpack(x):
    """[19, bodies, envs] -> (qp, dvel, dang): pos, rot, vel, ang and the two
    contact sums, one array in the loop so that it enters and leaves the step
    as one transpose and one loop operand (XLA:CPU compiles every slice,
    transpose and copy between separate arrays as a kernel of its own)."""
    pos, rot, vel, ang, dvel, dang = (x[a:b] for a, b in ((0, 3), (3, 7), (7, 10), (10, 13), (13, 16), (16, 19)))
    return QP(pos, rot, vel, ang), dvel, dang


def _pack(qp: QP, dvel, dang):
    return jnp.concatenate([qp.pos, qp.rot, qp.vel, qp.ang, dvel, dang])


def advance(sys, state, action):
    """`sys.substeps` substeps of the packed state [19, bodies, envs] (`_unpack`;
    the contact sums add up the velocity changes of every substep); sys and
    action [A, envs] in the internal layout."""
    h = sys.dt / sys.substeps
    actuations = [actuation(group, action) for group in sys.joints]    # once per step

    def substep(state, _):
        qp, dvel_sum, dang_sum = _unpack(state)
        qp = kinematic(sys, qp, h)
        qp = potential(sys, qp, actuations, h)
        qp, (dvel, dang) = collide(sys, qp, h)
        return _pack(qp, dvel_sum + dvel, dang_sum + dang), None

    return jax.lax.scan(substep, state, None, length=sys.substeps)[0]


# -- public entry points: qp [..., bodies, 3 or 4], action [..., A]

CHUNK_BY_BACKEND = {"cpu": 128}
"""Scenes `step_batch` steps together at most, per backend (`jax.default_backend()`);
a bigger batch runs in chunks of this many (`lax.map`). A CPU gains from a
working set that stays in cache (ant at batch 1024: 1.6x faster); a backend
not listed steps the whole batch as one program."""


def _leaves(qp: QP) -> list:
    return [qp.pos, qp.rot, qp.vel, qp.ang]


def _check(sys, qp: QP, action, batch: tuple, where: str):
    """Trace-time shape check: qp leaves [*batch, bodies, 3 or 4], action [*batch, A]."""
    n = sys.num_bodies
    want = {"pos": batch + (n, 3), "rot": batch + (n, 4), "vel": batch + (n, 3), "ang": batch + (n, 3)}
    hint = ("; for a batch of scenes use step_batch" if len(batch) == 0 else
            "; for one scene use step") if jnp.ndim(action) != len(batch) + 1 else ""
    for name, shape in want.items():
        got = jnp.shape(getattr(qp, name))
        if got != shape:
            raise ValueError(f"{where}: qp.{name} expected shape {shape} for system {sys.spec.name!r}, "
                             f"got {got}{hint}")
    if jnp.shape(action) != batch + (sys.action_size,):
        raise ValueError(f"{where}: action expected shape {batch + (sys.action_size,)} for system "
                         f"{sys.spec.name!r}, got {jnp.shape(action)}{hint}")


def _run(sys, qp: QP, action):
    """The step in the internal layout: qp leaves [k, bodies, B], action [A, B]."""
    isys = internal_system(sys)
    zero = jnp.zeros((6,) + qp.vel.shape[1:], qp.vel.dtype)
    qp, dvel, dang = _unpack(advance(isys, jnp.concatenate(_leaves(qp) + [zero]), action))
    angle, speed = slot_angles(isys, qp)
    return qp, StepInfo(dvel, dang, angle, speed)


def step_with_info(sys, qp: QP, action) -> tuple[QP, StepInfo]:
    """Advance one scene by `sys.dt`. qp: [bodies, 3 or 4]; action: [sys.action_size]."""
    _check(sys, qp, action, (), "step")
    qp, info = _run(sys, QP(*(x.T[..., None] for x in _leaves(qp))), action[:, None])
    return jax.tree.map(lambda x: x[..., 0].T, (qp, info))


def step(sys, qp: QP, action) -> QP:
    """Advance `qp` by `sys.dt` (`sys.substeps` substeps). action: [sys.action_size]."""
    return step_with_info(sys, qp, action)[0]


def _batch_minor(x):
    """[B, n, k] <-> [k, n, B] (its own inverse)."""
    return jnp.transpose(x, (2, 1, 0))


def _chunk(sys, qp: QP, action):
    qp, info = _run(sys, QP(*map(_batch_minor, _leaves(qp))), action.T)
    return QP(*map(_batch_minor, _leaves(qp))), StepInfo(*map(_batch_minor, (info.contact_vel, info.contact_ang)),
                                                info.joint_angle.T, info.joint_speed.T)


def step_batch_with_info(sys, qp: QP, action, chunk: int | None | str = "auto") -> tuple[QP, StepInfo]:
    """Advance a batch of scenes with one system: qp [B, bodies, 3 or 4], action
    [B, sys.action_size]. `chunk`: scenes stepped together at most (None: all;
    "auto": `CHUNK_BY_BACKEND` of the default backend)."""
    if jnp.ndim(action) != 2:
        raise ValueError(f"step_batch: action expected shape (batch, {sys.action_size}), got "
                         f"{jnp.shape(action)}; for one scene use step")
    size = jnp.shape(action)[0]
    _check(sys, qp, action, (size,), "step_batch")
    if chunk == "auto":
        chunk = CHUNK_BY_BACKEND.get(jax.default_backend())
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"step_batch: chunk expected a positive int, None or 'auto', got {chunk!r}")
    chunks, rest = divmod(size, chunk) if chunk else (1, 0)
    if chunks < 2:
        return _chunk(sys, qp, action)
    head = jax.tree.map(lambda x: x[:size - rest].reshape((chunks, chunk) + x.shape[1:]), (qp, action))
    out = jax.lax.map(lambda args: _chunk(sys, *args), head)
    out = jax.tree.map(lambda x: x.reshape((chunks * chunk,) + x.shape[2:]), out)
    if rest:
        tail = _chunk(sys, *jax.tree.map(lambda x: x[size - rest:], (qp, action)))
        out = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), out, tail)
    return out


def step_batch(sys, qp: QP, action, chunk: int | None | str = "auto") -> QP:
    """`step` for a batch of scenes (see `step_batch_with_info`)."""
    return step_batch_with_info(sys, qp, action, chunk)[0]
