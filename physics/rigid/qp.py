"""`QP`, the state of every body, and `default_qp`, a rest pose from the joint tree."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.physics.rigid.math import euler_to_quat, quat_conj, quat_mul, quat_to_matrix, rotate


@struct.dataclass
class QP:
    """Position and velocity of every body, in the world frame.

    pos: [..., B, 3] centre of mass; rot: [..., B, 4] unit quaternion (w, x, y, z);
    vel: [..., B, 3] linear velocity; ang: [..., B, 3] angular velocity.
    """
    pos: jnp.ndarray
    rot: jnp.ndarray
    vel: jnp.ndarray
    ang: jnp.ndarray

    @classmethod
    def zero(cls, num_bodies: int, dtype=None) -> "QP":
        dtype = dtype or jnp.zeros(()).dtype
        z = jnp.zeros((num_bodies, 3), dtype)
        rot = jnp.zeros((num_bodies, 4), dtype).at[:, 0].set(1.0)
        return cls(z, rot, z, z)


def collider_frames(sys, pos, rot):
    """World centre [C, 3] and rotation [C, 4] of every collider."""
    body = np.asarray(sys.collider_body, np.int32)
    q = rot[body]
    return pos[body] + rotate(sys.collider_position, q), quat_mul(q, sys.collider_rotation)


def lowest_points(sys, pos, rot):
    """z of each collider's lowest point [C] (planes give +inf)."""
    center, q = collider_frames(sys, pos, rot)
    axes = quat_to_matrix(q)                     # [C, 3, 3] columns = local axes
    z_extent = {
        "sphere": sys.collider_radius,
        "capsule": jnp.abs(axes[:, 2, 2]) * sys.collider_half_length + sys.collider_radius,
        "box": jnp.sum(jnp.abs(axes[:, 2, :]) * sys.collider_halfsize, axis=-1),
    }
    low = [center[i, 2] - z_extent[t][i] if t != "plane" else jnp.inf
           for i, t in enumerate(sys.collider_type)]
    return jnp.stack(low) if low else jnp.zeros((0,))


def rest_angles(group):
    """The rest angle of every DoF of a joint group [J, dof] (radians): zero,
    clipped into the joint's limits, so that no limit spring acts at rest."""
    return jnp.clip(0.0, group.limits[..., 0], group.limits[..., 1])


def default_qp(sys, angles=None) -> QP:
    """Every body at rest: roots at their spec `position`/`rotation`, each
    child placed so its joint anchor meets its parent's at the joint's rest
    angle (`rest_angles`: zero, or the nearer limit where zero lies outside
    them; e.g. the ant's knees at 30 degrees), or at `angles` [action_size]
    (every DoF in action-slot order, radians) where given. Then every joint tree with colliders and
    no frozen body is lifted so that its lowest collider point sits at the
    root's spec `position` z (0: touching the floor; 1: dropped from 1 above
    it). Trees without colliders or holding a frozen body stay as placed."""
    spec = sys.spec
    index = {b.name: i for i, b in enumerate(spec.bodies)}
    dtype = sys.mass.dtype
    pos = [jnp.asarray(b.position, dtype) for b in spec.bodies]
    rot = [euler_to_quat(jnp.asarray(b.rotation, dtype)) for b in spec.bodies]
    groups = [g for g in sys.joints]
    by_child = {}
    for g in groups:
        for j in range(len(g.names)):
            by_child[g.child[j]] = (g, j)
    placed = {i for i in range(len(spec.bodies)) if i not in by_child}
    root_of = {i: i for i in placed}
    while len(placed) < len(spec.bodies):      # walk the tree from the roots
        progress = False
        for child, (g, j) in by_child.items():
            parent = g.parent[j]
            if child in placed or parent not in placed:
                continue
            # child frame = parent frame ⊗ E(angles): rot_c = rot_p ⊗ frame ⊗ E ⊗ frame*
            at = rest_angles(g)[j] if angles is None else jnp.asarray(angles, dtype)[np.asarray(g.action_slots[j])]
            euler = jnp.zeros(3, dtype).at[:g.dof].set(at)
            bend = quat_mul(quat_mul(g.frame[j], euler_to_quat(jnp.rad2deg(euler))), quat_conj(g.frame[j]))
            rot[child] = quat_mul(rot[parent], bend)
            anchor = pos[parent] + rotate(g.parent_offset[j], rot[parent])
            pos[child] = anchor - rotate(g.child_offset[j], rot[child])
            root_of[child] = root_of[parent]
            placed.add(child)
            progress = True
        if not progress:
            raise ValueError(f"default_qp: the joints of {spec.name!r} contain a cycle")
    pos, rot = jnp.stack(pos), jnp.stack(rot)
    low = lowest_points(sys, pos, rot)
    lift = jnp.zeros(len(spec.bodies), dtype)
    frozen = [b.frozen for b in spec.bodies]
    for root in set(root_of.values()):
        members = [i for i in range(len(spec.bodies)) if root_of[i] == root]
        cols = [c for c, b in enumerate(sys.collider_body) if b in members
                and sys.collider_type[c] != "plane"]
        if cols and not any(frozen[i] for i in members):
            clearance = spec.bodies[root].position[2]
            lift = lift.at[jnp.asarray(members)].set(clearance - jnp.min(low[jnp.asarray(cols)]))
    pos = pos.at[:, 2].add(lift)
    zero = jnp.zeros_like(pos)
    return QP(pos, rot, zero, zero)
