"""Spring joints and their actuators: forces and torques on parent and child.

Each `JointGroup` (all joints with the same DoF count) is one batch: gather
the parent and child rows of the state, compute every joint at once, and
scatter-add the results onto the bodies. Conventions (all world frame):
a joint's frame is `rot_parent ⊗ frame` on the parent side and
`rot_child ⊗ frame` on the child side; the joint angles are the x-y'-z''
Euler angles of the child frame relative to the parent frame; positive
torque about an axis turns the child positively about it.

Inside the step everything is in the engine's component-first layout
(`component_first.py`): the state `qp` holds [3 or 4, bodies, envs] arrays, the group's
parameters are in `layout.internal_system` shapes, `action` is [action_size, envs].
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gambol.physics.rigid.layout import internal_qp, internal_system
from gambol.physics.rigid.component_first import (cross, dot, quat_column, quat_conj, quat_mul, quat_to_euler,
                                                  rotate, scatter_rows, take_rows)


def _safe_unit(v, eps=1e-12):
    n2 = dot(v, v)
    n = jnp.sqrt(jnp.where(n2 > eps, n2, 1.0))
    return jnp.where(n2 > eps, v / n, 0.0)


def joint_axes(frame_p, frame_c, dof: int):
    """World axes of each DoF [dof, 3, J, B] from the joint frames' rotations
    frame_p, frame_c [4, J, B]: x of the parent frame, then the line of nodes
    y' (the child's y for a universal joint), then z'' of the child frame."""
    x_p = quat_column(frame_p, 0)
    if dof == 1:
        return x_p[None]
    z_c = quat_column(frame_c, 2) if dof == 3 else None
    y = quat_column(frame_c, 1) if dof == 2 else _safe_unit(cross(z_c, x_p))
    return jnp.stack([x_p, y] + ([z_c] if dof == 3 else []))


def take_action(action, slots):
    """The actions [dof, J, B] of the joints' DoFs, `slots` [J][dof] into
    `action` [A, B]: a slice when the slots are consecutive (a gather costs
    a kernel of its own)."""
    slots = np.asarray(slots, np.int32)
    flat = slots.T.reshape(-1)
    if np.array_equal(slots.reshape(-1), np.arange(slots[0, 0], slots[0, 0] + slots.size)):
        rows = action[slots[0, 0]:slots[0, 0] + slots.size]             # [J * dof, B], joint-major
        return jnp.swapaxes(rows.reshape(slots.shape + rows.shape[1:]), 0, 1)
    return action[flat].reshape(slots.T.shape + action.shape[1:])


def joint_state(group, rot_p, rot_c, ang_p, ang_c):
    """(angles [dof, J, B], velocities [dof, J, B], axes [dof, 3, J, B], and
    the world joint-frame rotations of parent and child [4, J, B]) from the
    parent and child rotations [4, J, B] and angular velocities [3, J, B]."""
    frame_p = quat_mul(rot_p, group.frame)
    frame_c = quat_mul(rot_c, group.frame)
    angles = quat_to_euler(quat_mul(quat_conj(frame_p), frame_c), group.dof)
    axes = joint_axes(frame_p, frame_c, group.dof)
    w = ang_c - ang_p
    speed = axes[:, 0] * w[0] + axes[:, 1] * w[1] + axes[:, 2] * w[2]
    return angles, speed, axes, frame_p, frame_c


def actuation(group, action):
    """The actuator inputs of a joint group, fixed over a step: [2, dof, J, B],
    the torque (action x torque_strength) and the angle servo's target (the
    action in [-1, 1] mapped onto the limits [lo, hi]); action [A, B]."""
    a = take_action(action, group.action_slots)                     # [dof, J, B]
    lo, hi = group.limits[0], group.limits[1]
    return jnp.stack([a * group.torque_strength, lo + 0.5 * (jnp.clip(a, -1.0, 1.0) + 1.0) * (hi - lo)])


def group_forces(group, qp, actuation):
    """Forces and torques of one joint group and its actuators (`actuation`:
    the group's `actuation(group, action)`).

    Returns (force_p, torque_p, force_c, torque_c), each [3, J, B], acting on
    the parent and child bodies of each joint.
    """
    k, dof, n = group.stiffness, group.dof, len(group.parent)
    # both ends of every joint as one batch of 2J rows, parents then children
    # (half the kernels of two batches for XLA:CPU)
    (pos, rot, vel, ang), = take_rows((qp.pos, qp.rot, qp.vel, qp.ang), tuple(group.parent) + tuple(group.child))
    offset = (np.concatenate if isinstance(group.parent_offset, np.ndarray) else jnp.concatenate)(
        [group.parent_offset, group.child_offset], axis=1)
    r = rotate(offset, rot)
    anchor, v_anchor = pos + r, vel + cross(ang, r)                 # the anchors and their velocities
    pos_p, pos_c, rot_p, rot_c, ang_p, ang_c = pos[:, :n], pos[:, n:], rot[:, :n], rot[:, n:], ang[:, :n], ang[:, n:]
    a_p, a_c, v_ap, v_ac = anchor[:, :n], anchor[:, n:], v_anchor[:, :n], v_anchor[:, n:]
    # anchor spring: F = k (a_p - a_c) + d (v_ap - v_ac), +F on the child at a_c
    force = k * (a_p - a_c) + group.spring_damping * (v_ap - v_ac)
    # both ends act at the anchors' midpoint: the same torques for the spring
    # (F ∥ a_p - a_c), and exact angular momentum balance for the damping too
    mid = 0.5 * (a_p + a_c)
    arm_p, arm_c = mid - pos_p, mid - pos_c

    angles, speed, axes, frame_p, frame_c = joint_state(group, rot_p, rot_c, ang_p, ang_c)
    # axis alignment, torque on the parent (the child gets the opposite):
    # hinge U = k (1 - x_p.x_c); universal U = k/2 (x_p.y_c)^2; ball: none
    if dof == 1:
        align_p = k * cross(axes[0], quat_column(frame_c, 0))
    elif dof == 2:
        align_p = -k * dot(axes[0], axes[1]) * cross(axes[0], axes[1])
    else:
        align_p = None

    lo, hi = group.limits[0], group.limits[1]                     # [dof, J, 1]
    # one-sided spring back inside [lo, hi]
    past = jnp.clip(angles, lo, hi) - angles                        # < 0 above hi, > 0 below lo
    about = group.limit_strength * past
    c = group.limit_damping
    if not (isinstance(c, (float, np.floating, np.ndarray)) and np.all(c == 0)):   # a literal 0: the term is absent
        # a damper while past the limit, clipped so the limit torque never points outward:
        # dE/dt = -c speed^2, or (clipped) -k past speed < 0 on the way back in
        about = jnp.where(past > 0, jnp.maximum(about - c * speed, 0.0),
                          jnp.where(past < 0, jnp.minimum(about - c * speed, 0.0), about))
    # actuators: torque, zero where it would push a DoF further past its limit;
    # angle servo towards the target
    torque, target = actuation[0], actuation[1]
    about = about + jnp.where(past * torque < 0, 0.0, torque) + group.angle_strength * (target - angles)
    torque_c = sum(about[i] * axes[i] for i in range(dof))
    # angular damping on the relative angular velocity
    torque_c = torque_c + group.angular_damping * (ang_p - ang_c)
    if align_p is not None:
        torque_c = torque_c - align_p
    return (-force, cross(arm_p, -force) - torque_c, force, cross(arm_c, force) + torque_c)


def joint_forces(sys, qp, actuations):
    """Total force and torque on every body [3, bodies, B] from all joints and
    actuators; `actuations`: `actuation(group, action)` of every group."""
    values, index = [], []
    for group, inputs in zip(sys.joints, actuations):    # at most three groups: 1, 2, 3 DoF
        f_p, t_p, f_c, t_c = group_forces(group, qp, inputs)
        values += [jnp.concatenate([f_p, t_p]), jnp.concatenate([f_c, t_c])]
        index += list(group.parent) + list(group.child)
    if not values:
        return jnp.zeros_like(qp.pos), jnp.zeros_like(qp.pos)
    total = scatter_rows(jnp.concatenate(values, axis=1), index, qp.pos.shape[1])
    return total[:3], total[3:]


def slot_angles(sys, qp):
    """(angles, speeds), each [action_size, B]: every joint DoF in action-slot
    order, from the internal system and state (qp [3 or 4, bodies, B])."""
    if not sys.joints:
        z = jnp.zeros((0,) + qp.pos.shape[2:], qp.pos.dtype)
        return z, z
    angles, speeds, slots = [], [], []
    for group in sys.joints:
        (rot_p, ang_p), (rot_c, ang_c) = take_rows((qp.rot, qp.ang), group.parent, group.child)
        a, s, *_ = joint_state(group, rot_p, rot_c, ang_p, ang_c)       # [dof, J, B]
        angles.append(jnp.swapaxes(a, 0, 1).reshape((-1,) + a.shape[2:]))
        speeds.append(jnp.swapaxes(s, 0, 1).reshape((-1,) + s.shape[2:]))
        slots += [i for row in group.action_slots for i in row]
    order = np.argsort(slots)
    return jnp.concatenate(angles)[order], jnp.concatenate(speeds)[order]


def joint_angles(sys, qp):
    """(angles, speeds), each [sys.action_size]: every joint DoF in action-slot
    order (the joints' spec order), radians and radians per second.
    qp in the public layout ([bodies, 3]). A step's `StepInfo` carries the same
    for the state it returns."""
    angles, speeds = slot_angles(internal_system(sys), internal_qp(qp))
    return angles[:, 0], speeds[:, 0]
