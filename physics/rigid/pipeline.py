"""One step of the spring engine: `substeps` repetitions of three phases.

Per substep of length h = dt / substeps (the Brax paper's order):
1. kinematic: x += v h; q <- normalize(q + ½ h (0, ω) ⊗ q);
2. potential: joint springs, limits and actuators give forces F and torques τ;
   v <- e^{-c_v h} v + (F/m + g) h, ω <- e^{-c_ω h} ω + I⁻¹(τ - ω × Iω) h
   (symplectic Euler: the forces see the new positions);
3. contacts: velocity-level impulses with Baumgarte stabilisation.
Frozen world axes are masked out of every update.

The substeps run in the internal layout of `layout.py` (components first,
environments last). `step` is written for one scene; it is a primitive
whose `jax.vmap` batching rule steps the whole batch of scenes at once with
the batch as the minor axis, instead of vmap's default batch-major arrays
(about 2x faster on XLA:CPU), tracing only that batched step. Reverse-mode
gradients go through the same equations (`jax.custom_vjp`, the backward pass
re-runs the one-scene step under `jax.vjp`); forward-mode (`jax.jvp`) is not
supported. When the system itself is batched (vmapped physical parameters)
the default batching is used. A concrete system (not traced) is carried as
static data, so its arrays are constants of the program: XLA:CPU on jax
>= 0.5 compiles every fused kernel apart, and the step is written for few of
them (see `soa.take_rows`, `soa.part`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.interpreters import batching, mlir

try:
    from jax.extend.core import Primitive
except ImportError:         # jax < 0.4.31
    from jax.core import Primitive

from gambol.physics.rigid.contacts import detect_soa, impulses
from gambol.physics.rigid.joints import actuation, joint_forces
from gambol.physics.rigid.layout import public_batch, soa_batch, soa_system
from gambol.physics.rigid.qp import QP
from gambol.physics.rigid.soa import cross, integrate_rotation, inv_rotate, rotate


@struct.dataclass
class StepInfo:
    """What a step did, summed over its substeps: contact velocity changes
    (contact_vel, contact_ang: [bodies, 3]; the Brax paper's envs observe these)."""
    contact_vel: jnp.ndarray
    contact_ang: jnp.ndarray


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
    dvel, dang = impulses(sys, qp, detect_soa(sys, qp), h)
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


# -- batches of scenes: qp [envs, bodies, 3 or 4], action [envs, A]

CHUNK = 128
"""Scenes stepped together at most: a bigger batch runs in chunks of this many
(`lax.map`), whose working set stays in cache (ant at batch 1024: 1.6x faster)."""


def _step_batch(sys, qp: QP, action):
    size = action.shape[0]
    chunks, rest = divmod(size, CHUNK)
    if chunks < 2:
        return _step_chunk(sys, qp, action)
    head = jax.tree.map(lambda x: x[:size - rest].reshape((chunks, CHUNK) + x.shape[1:]), (qp, action))
    out = jax.lax.map(lambda args: _step_chunk(sys, *args), head)
    out = jax.tree.map(lambda x: x.reshape((chunks * CHUNK,) + x.shape[2:]), out)
    if rest:
        tail = _step_chunk(sys, *jax.tree.map(lambda x: x[size - rest:], (qp, action)))
        out = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), out, tail)
    return out


def _step_chunk(sys, qp: QP, action):
    sys = sys.sys if isinstance(sys, _Constant) else sys
    zero = jnp.zeros((6,) + qp.vel.shape[1::-1], qp.vel.dtype)
    state = advance(soa_system(sys), jnp.concatenate([soa_batch(x) for x in jax.tree.leaves(qp)] + [zero]), action.T)
    qp, dvel, dang = jax.tree.map(public_batch, _unpack(state))
    return qp, StepInfo(dvel, dang)


def _one(sys, qp: QP, action):
    """One scene (qp [bodies, 3 or 4], action [A]) as a batch of one."""
    qp, info = _step_batch(sys, jax.tree.map(lambda x: x[None], qp), action[None])
    return jax.tree.map(lambda x: x[0], (qp, info))


def _vmap_rule(fn, merge):
    """A custom_vmap rule: with the system batched (vmapped physical
    parameters), jax's default batching of `fn`; otherwise the unbatched
    state or action broadcast to `size` and `merge(size, qp, action)`."""
    def rule(size, in_batched, sys, qp, action):
        if any(jax.tree.leaves(in_batched[0])):
            axes = jax.tree.map(lambda b: 0 if b else None, tuple(in_batched))
            out = jax.vmap(fn, in_axes=axes)(sys, qp, action)
        else:
            qp, action = (jax.tree.map(lambda x, b: x if b else jnp.broadcast_to(x, (size,) + x.shape), t, tb)
                          for t, tb in ((qp, in_batched[1]), (action, in_batched[2])))
            out = merge(size, sys, qp, action)
        return out, jax.tree.map(lambda _: True, out)
    return rule


@jax.custom_batching.custom_vmap
def _batch_of_batches(sys, qp, action):
    return _step_batch(sys, qp, action)


def _merged(size, sys, qp, action):
    """vmap of a batch (nested vmaps): fold the new axis into the batch axis."""
    inner = action.shape[1]
    flat = lambda x: x.reshape((size * inner,) + x.shape[2:])     # noqa: E731
    out = _batch_of_batches(sys, jax.tree.map(flat, qp), flat(action))
    return jax.tree.map(lambda x: x.reshape((size, inner) + x.shape[1:]), out)


_batch_of_batches.def_vmap(_vmap_rule(_step_batch, _merged))


# One scene's step is a primitive of its own: under `jax.vmap` its batching
# rule traces the batched step once (`_batch_of_batches`), where a
# `custom_vmap` would first trace the one-scene step too, only for its shapes.
_one_p = Primitive("gambol_rigid_step")
_one_p.multiple_results = True


def _unflatten_call(fn, tree):
    return lambda *flat: jax.tree.leaves(fn(*jax.tree.unflatten(tree, flat)))


def _one_abstract(*avals, tree):
    """The new state has the old one's shapes; the contact sums [bodies, 3] the velocity's."""
    sys, qp, action = jax.tree.unflatten(tree, avals)
    return jax.tree.leaves(qp) + [qp.vel, qp.vel]


def _one_batched(args, dims, *, tree):
    size = next(x.shape[d] for x, d in zip(args, dims) if d is not None)
    args = [x if d is None else jnp.moveaxis(x, d, 0) for x, d in zip(args, dims)]
    sys, qp, action = jax.tree.unflatten(tree, args)
    in_batched = jax.tree.unflatten(tree, [d is not None for d in dims])
    out, _ = _vmap_rule(_one, lambda size, sys, qp, action: _batch_of_batches(sys, qp, action))(
        size, in_batched, sys, qp, action)
    leaves = jax.tree.leaves(out)
    return leaves, [0] * len(leaves)


_one_p.def_impl(lambda *flat, tree: _unflatten_call(_one, tree)(*flat))      # eager: op by op
_one_p.def_abstract_eval(_one_abstract)
mlir.register_lowering(_one_p, lambda ctx, *flat, tree: mlir.lower_fun(_unflatten_call(_one, tree),
                                                                        multiple_results=True)(ctx, *flat))
batching.primitive_batchers[_one_p] = _one_batched


def _vmappable(sys, qp, action):
    flat, tree = jax.tree.flatten((sys, qp, action))
    out = _one_p.bind(*flat, tree=tree)
    return QP(*out[:4]), StepInfo(*out[4:])


@jax.custom_vjp
def _step(sys, qp, action):
    return _vmappable(sys, qp, action)


def _step_fwd(sys, qp, action):
    return _vmappable(sys, qp, action), (sys, qp, action)


def _step_bwd(inputs, cotangent):
    return jax.vjp(_one, *inputs)[1](cotangent)


_step.defvjp(_step_fwd, _step_bwd)


class _Constant:
    """A concrete `System` carried through `_step` as static data (a pytree
    without leaves), so that its arrays are constants of the compiled program,
    folded where they are indexed or uniform, rather than traced inputs."""

    def __init__(self, sys):
        self.sys = sys


jax.tree_util.register_pytree_node(_Constant, lambda c: ((), c), lambda c, _: c)


def step_with_info(sys, qp: QP, action) -> tuple[QP, StepInfo]:
    """Advance one scene by `sys.dt`. qp: [bodies, 3 or 4]; action: [sys.action_size].
    Vmap it for a batch of scenes."""
    if action.shape != (sys.action_size,):
        raise ValueError(f"step: action expected shape ({sys.action_size},) for system "
                         f"{sys.spec.name!r}, got {action.shape}")
    traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(sys))
    return _step(sys if traced else _Constant(sys), qp, action)


def step(sys, qp: QP, action) -> QP:
    """Advance `qp` by `sys.dt` (`sys.substeps` substeps). action: [sys.action_size]."""
    return step_with_info(sys, qp, action)[0]
