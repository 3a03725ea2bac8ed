"""Spring joints and their actuators: forces and torques on parent and child.

Each `JointGroup` (all joints with the same DoF count) is one batch: gather
the parent and child rows of the state, compute every joint at once, and
scatter-add the results onto the bodies. Conventions (all world frame):
a joint's frame is `rot_parent ⊗ frame` on the parent side and
`rot_child ⊗ frame` on the child side; the joint angles are the x-y'-z''
Euler angles of the child frame relative to the parent frame; positive
torque about an axis turns the child positively about it.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gambol.physics.rigid.math import (cross, dot, quat_conj, quat_mul, quat_to_euler, quat_to_matrix, rotate,
                                      scatter_add)


def _safe_unit(v, eps=1e-12):
    n2 = dot(v, v)[..., None]
    n = jnp.sqrt(jnp.where(n2 > eps, n2, 1.0))
    return jnp.where(n2 > eps, v / n, 0.0)


def joint_axes(mp, mc, dof: int):
    """World axes of each DoF [J, dof, 3] from the joint frames' rotation
    matrices mp, mc [J, 3, 3]: x of the parent frame, then the
    line of nodes y' (the child's y for a universal joint), then z'' of the
    child frame."""
    x_p = mp[..., :, 0]
    if dof == 1:
        return x_p[:, None]
    y = mc[..., :, 1] if dof == 2 else _safe_unit(cross(mc[..., :, 2], x_p))
    axes = [x_p, y] + ([mc[..., :, 2]] if dof == 3 else [])
    return jnp.stack(axes, axis=1)


def joint_state(group, qp):
    """(angles [J, dof], velocities [J, dof], axes [J, dof, 3], and the world
    joint-frame matrices of parent and child [J, 3, 3]) of a group."""
    p, c = np.asarray(group.parent), np.asarray(group.child)
    frame_p = quat_mul(qp.rot[p], group.frame)
    frame_c = quat_mul(qp.rot[c], group.frame)
    rel = quat_mul(quat_conj(frame_p), frame_c)
    angles = quat_to_euler(rel)[:, :group.dof]
    mp, mc = quat_to_matrix(frame_p), quat_to_matrix(frame_c)
    axes = joint_axes(mp, mc, group.dof)
    speed = dot((qp.ang[c] - qp.ang[p])[:, None, :], axes)
    return angles, speed, axes, mp, mc


def group_forces(group, qp, action):
    """Forces and torques of one joint group and its actuators.

    Returns (force_p, torque_p, force_c, torque_c), each [J, 3], acting on the
    parent and child bodies of each joint.
    """
    p, c = np.asarray(group.parent), np.asarray(group.child)
    k, dof = group.stiffness[:, None], group.dof
    # anchor spring: F = k (a_p - a_c) + d (v_ap - v_ac), +F on the child at a_c
    r_p, r_c = rotate(group.parent_offset, qp.rot[p]), rotate(group.child_offset, qp.rot[c])
    v_ap = qp.vel[p] + cross(qp.ang[p], r_p)
    v_ac = qp.vel[c] + cross(qp.ang[c], r_c)
    a_p, a_c = qp.pos[p] + r_p, qp.pos[c] + r_c
    force = k * (a_p - a_c) + group.spring_damping[:, None] * (v_ap - v_ac)
    # both ends act at the anchors' midpoint: the same torques for the spring
    # (F ∥ a_p - a_c), and exact angular momentum balance for the damping too
    mid = 0.5 * (a_p + a_c)
    arm_p, arm_c = mid - qp.pos[p], mid - qp.pos[c]

    angles, speed, axes, mp, mc = joint_state(group, qp)
    # axis alignment, torque on the parent (the child gets the opposite):
    # hinge U = k (1 - x_p.x_c); universal U = k/2 (x_p.y_c)^2; ball: none
    if dof == 1:
        align_p = k * cross(mp[..., 0], mc[..., 0])
    elif dof == 2:
        cos = dot(mp[..., 0], mc[..., 1])[:, None]
        align_p = -k * cos * cross(mp[..., 0], mc[..., 1])
    else:
        align_p = jnp.zeros_like(force)

    lo, hi = group.limits[..., 0], group.limits[..., 1]
    # one-sided spring back inside [lo, hi]
    about = group.limit_strength[:, None] * (jnp.clip(angles, lo, hi) - angles)
    # actuators: torque, zero where it would push a DoF further past its limit
    a = action[np.asarray(group.action_slots, np.int32).reshape(-1, dof)]
    drive = a * group.torque_strength[:, None]
    drive = jnp.where(((angles > hi) & (drive > 0)) | ((angles < lo) & (drive < 0)), 0.0, drive)
    # angle servo: action in [-1, 1] -> target in [lo, hi]
    target = lo + 0.5 * (jnp.clip(a, -1.0, 1.0) + 1.0) * (hi - lo)
    drive = drive + group.angle_strength[:, None] * (target - angles)
    torque_c = sum((about + drive)[:, i, None] * axes[:, i] for i in range(dof))
    # angular damping on the relative angular velocity
    torque_c = torque_c + group.angular_damping[:, None] * (qp.ang[p] - qp.ang[c])
    torque_c = torque_c - align_p
    return (-force, cross(arm_p, -force) - torque_c, force, cross(arm_c, force) + torque_c)


def joint_forces(sys, qp, action):
    """Total force and torque on every body [B, 3] from all joints and actuators."""
    values, index = [], []
    for group in sys.joints:            # at most three groups: 1, 2, 3 DoF
        f_p, t_p, f_c, t_c = group_forces(group, qp, action)
        values += [jnp.concatenate([f_p, t_p], -1), jnp.concatenate([f_c, t_c], -1)]
        index += list(group.parent) + list(group.child)
    if not values:
        return jnp.zeros_like(qp.pos), jnp.zeros_like(qp.pos)
    total = scatter_add(jnp.concatenate(values), index, qp.pos.shape[0])
    return total[:, :3], total[:, 3:]


def joint_angles(sys, qp):
    """(angles, speeds), each [sys.action_size]: every joint DoF in action-slot
    order (the joints' spec order), radians and radians per second."""
    if not sys.joints:
        z = jnp.zeros((0,), qp.pos.dtype)
        return z, z
    angles, speeds, slots = [], [], []
    for group in sys.joints:
        a, s, *_ = joint_state(group, qp)
        angles.append(a.reshape(-1))
        speeds.append(s.reshape(-1))
        slots += [i for row in group.action_slots for i in row]
    order = np.argsort(slots)
    return jnp.concatenate(angles)[order], jnp.concatenate(speeds)[order]
