"""Whole-system measures for checking a simulation: momentum, angular
momentum, kinetic and potential energy, joint anchor error, penetration of
the colliders that collide with a plane."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gambol.physics.rigid.contacts import detect
from gambol.physics.rigid.math import inv_rotate, quat_mul, quat_to_matrix, rotate


def _moving(sys):
    return sys.inv_mass > 0          # frozen bodies (planes, fixed anchors) are excluded


def momentum(sys, qp):
    """Total linear momentum sum_i m_i v_i [3]."""
    m = jnp.where(_moving(sys), sys.mass, 0.0)
    return jnp.sum(m[:, None] * qp.vel, axis=0)


def angular_momentum(sys, qp, origin=None):
    """Total angular momentum about `origin` (default the world origin) [3]:
    sum_i m_i (x_i - o) × v_i + R_i I_i R_iᵀ ω_i."""
    m = jnp.where(_moving(sys), sys.mass, 0.0)
    x = qp.pos if origin is None else qp.pos - origin
    spin = rotate(sys.inertia * inv_rotate(qp.ang, qp.rot), qp.rot)
    return jnp.sum(m[:, None] * jnp.cross(x, qp.vel) + m[:, None] / sys.mass[:, None] * spin, axis=0)


def kinetic_energy(sys, qp):
    """sum_i ½ m_i |v_i|² + ½ ω_iᵀ I_i ω_i."""
    m = jnp.where(_moving(sys), sys.mass, 0.0)
    w = inv_rotate(qp.ang, qp.rot)
    rot = jnp.sum(sys.inertia * w * w, axis=-1)
    return 0.5 * jnp.sum(m * jnp.sum(qp.vel ** 2, axis=-1) + jnp.where(_moving(sys), rot, 0.0))


def gravity_energy(sys, qp):
    """-sum_i m_i g·x_i."""
    m = jnp.where(_moving(sys), sys.mass, 0.0)
    return -jnp.sum(m * (qp.pos @ sys.gravity))


def _anchors(g, qp):
    p, c = np.asarray(g.parent), np.asarray(g.child)
    return qp.pos[p] + rotate(g.parent_offset, qp.rot[p]), qp.pos[c] + rotate(g.child_offset, qp.rot[c])


def anchor_error(sys, qp):
    """Distance between the parent and child anchors of every joint [J] (all
    groups concatenated): how far the springs let the joints separate."""
    errs = []
    for g in sys.joints:
        a_p, a_c = _anchors(g, qp)
        errs.append(jnp.linalg.norm(a_p - a_c, axis=-1))
    return jnp.concatenate(errs) if errs else jnp.zeros((0,))


def spring_energy(sys, qp):
    """Potential energy of the joint springs: anchor springs ½ k |a_p - a_c|²
    plus the hinge (k (1 - x_p·x_c)) and universal (½ k (x_p·y_c)²) alignment
    terms. Limits are not included (they are one-sided)."""
    total = jnp.zeros((), qp.pos.dtype)
    for g in sys.joints:
        p, c = np.asarray(g.parent), np.asarray(g.child)
        a_p, a_c = _anchors(g, qp)
        total = total + 0.5 * jnp.sum(g.stiffness * jnp.sum((a_p - a_c) ** 2, axis=-1))
        mp = quat_to_matrix(quat_mul(qp.rot[p], g.frame))
        mc = quat_to_matrix(quat_mul(qp.rot[c], g.frame))
        if g.dof == 1:
            total = total + jnp.sum(g.stiffness * (1 - jnp.sum(mp[..., 0] * mc[..., 0], -1)))
        elif g.dof == 2:
            total = total + 0.5 * jnp.sum(g.stiffness * jnp.sum(mp[..., 0] * mc[..., 1], -1) ** 2)
    return total


def plane_penetration(sys, qp):
    """How deep the deepest collider that collides with a plane (the floor) is
    inside it, in metres (0 when none overlaps): -min of the contact distances
    of every plane pair (capsule end spheres, box corners, spheres). Colliders
    excluded from the plane pairs (e.g. the ant's thighs) are not counted."""
    c = detect(sys, qp)
    on_plane = np.asarray(c.on_plane, bool)
    if not on_plane.any():
        return jnp.zeros((), qp.pos.dtype)
    return jnp.maximum(-jnp.min(c.dist[np.flatnonzero(on_plane)]), 0.0)
