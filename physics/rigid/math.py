"""Quaternions and rotations for the rigid-body engine.

Quaternions are `[..., 4]` arrays (w, x, y, z), unit length, acting on vectors
as v' = q v q*. Rotation matrices have the body's axes as columns.
"""

from __future__ import annotations

import jax.numpy as jnp

from gambol.physics.rigid import component_first
from gambol.physics.space import dot  # noqa: F401  (re-exported)


def quat_mul(a, b):
    """Hamilton product a ⊗ b. a, b: [..., 4]."""
    aw, ax, ay, az = jnp.moveaxis(a, -1, 0)
    bw, bx, by, bz = jnp.moveaxis(b, -1, 0)
    return jnp.stack([aw * bw - ax * bx - ay * by - az * bz,
                      aw * bx + ax * bw + ay * bz - az * by,
                      aw * by - ax * bz + ay * bw + az * bx,
                      aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def cross(a, b):
    """a × b over the last axis [..., 3], term by term (jnp.cross moves the
    axis to the front and back, which costs layout transposes in every kernel)."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return jnp.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)


def quat_conj(q):
    return q * jnp.array([1.0, -1.0, -1.0, -1.0], q.dtype)


def rotate(v, q):
    """q v q* for v: [..., 3], q: [..., 4] (v' = v + 2w(u×v) + 2u×(u×v))."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * cross(u, v)
    return v + w * t + cross(u, t)


def inv_rotate(v, q):
    """q* v q: a world vector expressed in the frame q."""
    return rotate(v, quat_conj(q))


def quat_to_matrix(q):
    """[..., 4] -> [..., 3, 3] with the rotated x, y, z axes as columns."""
    rows = component_first.rotation_entries(*jnp.moveaxis(q, -1, 0))
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


# Small fixed-size products are written out term by term: XLA:CPU would turn
# `jnp.sum(a * b, -1)`, `@` and one-hot matmuls over a batch into library
# dot calls, which cost far more than the few multiply-adds they replace.

def matvec(m, v):
    """m @ v for m: [..., 3, 3], v: [..., 3]."""
    return m[..., :, 0] * v[..., None, 0] + m[..., :, 1] * v[..., None, 1] + m[..., :, 2] * v[..., None, 2]


def axis_angle(axis, angle):
    """Unit quaternion of a rotation by `angle` (rad) about unit `axis`."""
    half = 0.5 * jnp.asarray(angle)[..., None]
    return jnp.concatenate([jnp.cos(half), jnp.sin(half) * axis], axis=-1)


def euler_to_quat(degrees):
    """Intrinsic x-y'-z'' Tait-Bryan angles in degrees -> quaternion
    (q = q_x ⊗ q_y ⊗ q_z)."""
    a = jnp.deg2rad(jnp.asarray(degrees, jnp.float32 if not hasattr(degrees, "dtype") else None))
    eye = jnp.eye(3, dtype=a.dtype)
    qx, qy, qz = (axis_angle(eye[i], a[..., i]) for i in range(3))
    return quat_mul(quat_mul(qx, qy), qz)


def quat_to_euler(q):
    """Inverse of `euler_to_quat` in radians: (x, y', z'') with y' in [-pi/2, pi/2]."""
    return jnp.moveaxis(component_first.euler_from_entries(component_first.rotation_entries(*jnp.moveaxis(q, -1, 0))), 0, -1)


def normalize(q, eps: float = 1e-12):
    return q / jnp.sqrt(dot(q, q)[..., None] + eps)


def integrate_rotation(q, omega, h):
    """One step of dq/dt = ½ (0, ω) ⊗ q with ω in the world frame, renormalised."""
    omega_q = jnp.concatenate([jnp.zeros_like(omega[..., :1]), omega], axis=-1)
    return normalize(q + 0.5 * h * quat_mul(omega_q, q))
