"""Contacts: detection by shape kind, then velocity-level impulses with
Baumgarte stabilisation (the Brax paper's spring engine, section 5 of the
reference facts; friction here uses the tangent's own effective mass).

Every candidate pair of a kind is one batch through its geometry function
(`geometry_component_first.py`); the contacts of all kinds are concatenated and resolved in
one batch against the velocities at the start of the phase. Per contact, with
relative velocity v of B's point w.r.t. A's, normal n (A to B), penetration d:

    j   = (-(1 + e) v.n - beta d / h) / (1/m_a + 1/m_b + kappa_a + kappa_b)
    j_t = min(|v_t| / (1/m_a + 1/m_b + kappa_t), mu j)     against v_t

applied where d < 0, v.n < 0 and j > 0 (friction only above a speed
threshold); each body averages the impulses of its active contacts (a pair
scales both of its impulses by the same factor, so momentum is conserved).

`detect` and `impulses` work in the engine's internal layout (`layout.py`):
contacts are [K, envs] and [3, K, envs] arrays.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.physics.rigid import geometry_component_first
from gambol.physics.rigid.layout import internal_qp, internal_system
from gambol.physics.rigid.component_first import (as_literal, component, cross, dot, matvec, quat_column,
                                                  quat_mul, quat_to_matrix, rotate, rotation_entries,
                                                  scatter_rows, sum_rows, take_rows)


@struct.dataclass
class Contacts:
    """All contact candidates of a scene, flattened over pairs: K rows."""
    dist: jnp.ndarray     # [K, ...] < 0: penetrating
    normal: jnp.ndarray   # [3, K, ...] (public `detect`: [K, 3]) from A to B
    point: jnp.ndarray    # [3, K, ...] (public `detect`: [K, 3])
    body_a: tuple = struct.field(pytree_node=False)
    body_b: tuple = struct.field(pytree_node=False)
    on_plane: tuple = struct.field(pytree_node=False)


def _items(x, idx, axis=0, elementwise=True):
    """x's items `idx` (static) along `axis`: on the host when x is a concrete
    array (a constant in the program, not a gather kernel; `as_literal` when only
    used elementwise), else a gather."""
    idx = np.asarray(idx, np.int32)
    if not isinstance(x, np.ndarray):       # traced (see layout.internal_system)
        return jnp.take(x, idx, axis=axis)
    v = np.take(x, idx, axis=axis)
    return as_literal(v) if elementwise else v


def _geometry_args(sys, pos, rot, idx, kind):
    """The geometry arguments of colliders `idx` of shape `kind`: [.., P, envs],
    from the position [3, P, envs] and rotation [4, P, envs] of their bodies."""
    offset = _items(sys.collider_position, idx, 1, elementwise=False)
    turn = _items(sys.collider_rotation, idx, 1, elementwise=False)
    # (a concrete zero offset or identity rotation is skipped)
    c = pos if isinstance(offset, np.ndarray) and not offset.any() else pos + rotate(offset, rot)
    r = rot if isinstance(turn, np.ndarray) and np.all(turn[1:] == 0) and np.all(turn[0] == 1) else quat_mul(rot, turn)
    if kind == "plane":
        return (c, quat_column(r, 2))
    if kind == "sphere":
        return (c, _items(sys.collider_radius, idx))
    if kind == "capsule":
        return (c, quat_column(r, 2), _items(sys.collider_half_length, idx), _items(sys.collider_radius, idx))
    return (c, quat_to_matrix(r), _items(sys.collider_halfsize, idx, 1))


def detect_internal(sys, qp) -> Contacts:
    """Contact candidates of every collider pair (the step masks the inactive
    ones); `sys` and `qp` in the internal layout."""
    # a side that is one collider in every pair (the floor) is computed once
    # and broadcast against the other side
    sides = [idx[:1] if len(set(idx)) == 1 else idx for pairs in sys.pairs for idx in (pairs.a, pairs.b)]
    body_rows = take_rows((qp.pos, qp.rot), *([sys.collider_body[c] for c in idx] for idx in sides)) if sides else []
    dist, normal, point, body_a, body_b, on_plane = [], [], [], [], [], []
    for kind, pairs in enumerate(sys.pairs):
        ka, kb = pairs.kind
        fn = getattr(geometry_component_first, f"{kb}_plane" if ka == "plane" else f"{ka}_{kb}")
        d, n, p = fn(*_geometry_args(sys, *body_rows[2 * kind], sides[2 * kind], ka),
                     *_geometry_args(sys, *body_rows[2 * kind + 1], sides[2 * kind + 1], kb))
        k, n_pairs = d.shape[:2]
        dist.append(d.reshape((k * n_pairs,) + d.shape[2:]))
        normal.append(n.reshape((3, k * n_pairs) + n.shape[3:]))
        point.append(p.reshape((3, k * n_pairs) + p.shape[3:]))
        body_a += [sys.collider_body[i] for _ in range(k) for i in pairs.a]
        body_b += [sys.collider_body[i] for _ in range(k) for i in pairs.b]
        on_plane += [ka == "plane"] * (n_pairs * k)
    if not dist:
        z = jnp.zeros((0,) + qp.pos.shape[2:], qp.pos.dtype)
        return Contacts(z, jnp.zeros((3,) + z.shape, z.dtype), jnp.zeros((3,) + z.shape, z.dtype),
                        (), (), ())
    return Contacts(jnp.concatenate(dist), jnp.concatenate(normal, axis=1),
                    jnp.concatenate(point, axis=1),
                    tuple(body_a), tuple(body_b), tuple(on_plane))


def detect(sys, qp) -> Contacts:
    """Contact candidates of every collider pair of one scene in the public
    layout: dist [K], normal and point [K, 3] (qp: [bodies, 3 or 4])."""
    c = detect_internal(internal_system(sys), internal_qp(qp))
    return c.replace(dist=c.dist[:, 0], normal=c.normal[..., 0].T, point=c.point[..., 0].T)


def world_inv_inertia(inv_inertia, rot):
    """I_world^{-1} = R I_body^{-1} Rᵀ [3, 3, *T] from the body-frame inverse
    principal inertia [3, *T] (zero when frozen) and rotation [4, *T]."""
    # R's entries, written out: one stack for the result (a kernel each for XLA:CPU)
    m = rotation_entries(*[component(rot, i) for i in range(4)])
    s = [component(inv_inertia, k) for k in range(3)] if np.ndim(inv_inertia) else [inv_inertia] * 3
    return jnp.stack([jnp.stack([sum(s[k] * m[i][k] * m[j][k] for k in range(3)) for j in range(3)])
                      for i in range(3)])


def _sides(sys, qp, contacts):
    """Per side (A, B) of every contact: lever arm, point velocity, inverse
    mass and world inverse inertia of its body at the contact point, the rows
    of both sides gathered at once; a side whose bodies are all frozen (a
    plane) is static: zeros and no inertia."""
    point = contacts.point
    static = [all(sys.spec.bodies[i].frozen for i in body) for body in (contacts.body_a, contacts.body_b)]
    moving = [body for body, fixed in zip((contacts.body_a, contacts.body_b), static) if not fixed]
    rows = iter(take_rows((qp.pos, qp.rot, qp.vel, qp.ang), *moving))
    out = []
    for body, fixed in zip((contacts.body_a, contacts.body_b), static):
        if fixed:
            z = jnp.zeros_like(point)
            out.append((z, z, jnp.zeros(point.shape[1:], point.dtype), None))
            continue
        pos, rot, vel, ang = next(rows)
        r = point - pos
        out.append((r, vel + cross(ang, r), _items(sys.inv_mass, body),
                    world_inv_inertia(_items(sys.inv_inertia, body, 1), rot)))
    return out


def _sharing(sys, a, b, a_moves: bool):
    """The contacts each side's body averages over, for every contact's side A
    and then every side B ([2K] lists): those whose B side, or moving A side,
    is that body; none for a frozen body."""
    def on(body):
        if sys.spec.bodies[body].frozen:
            return []
        return [k for k in range(len(b)) if b[k] == body or (a_moves and a[k] == body)]
    return [on(body) for body in list(a) + list(b)]


def impulses(sys, qp, contacts: Contacts, h):
    """Velocity changes (dvel, dang: [3, bodies, envs]) from all contacts,
    each body averaging over its active contacts."""
    if not contacts.body_a:
        return jnp.zeros_like(qp.vel), jnp.zeros_like(qp.ang)
    a, b = np.asarray(contacts.body_a), np.asarray(contacts.body_b)
    n, d, p = contacts.normal, contacts.dist, contacts.point
    (r_a, v_a, m_a, i_a), (r_b, v_b, m_b, i_b) = _sides(sys, qp, contacts)
    v = v_b - v_a
    v_n = dot(v, n)
    inv_m = m_a + m_b

    def kappa(direction):   # rotational part of the effective inverse mass along `direction`
        k = cross(matvec(i_b, cross(r_b, direction)), r_b)
        if i_a is not None:
            k = k + cross(matvec(i_a, cross(r_a, direction)), r_a)
        return dot(k, direction)

    # target normal speed: the bounce of an approach, or at least the Baumgarte
    # speed -beta d / h out of the overlap (also for a contact already separating)
    target = -sys.elasticity * jnp.minimum(v_n, 0.0) - sys.baumgarte_erp * d / h
    j = (target - v_n) / (inv_m + kappa(n))
    active = (d < 0) & (j > 0)
    j = jnp.where(active, j, 0.0)

    v_t = v - v_n * n
    speed_t2 = dot(v_t, v_t)
    slipping = active & (speed_t2 > sys.friction_threshold ** 2)
    speed_t = jnp.sqrt(jnp.where(slipping, speed_t2, 1.0))
    t = v_t / speed_t
    on_plane = np.asarray(contacts.on_plane)
    mu = sys.friction * (sys.plane_friction_scale if on_plane.all() else
                         jnp.where(on_plane[:, None], sys.plane_friction_scale, 1.0))
    j_t = jnp.minimum(speed_t / (inv_m + kappa(t)), mu * j)
    j_t = jnp.where(slipping, j_t, 0.0)

    # each body averages over its active contacts; a pair shares one factor so
    # that its impulses stay equal and opposite (momentum is conserved)
    n_bodies = qp.pos.shape[1]
    count = sum_rows(active.astype(p.dtype), _sharing(sys, a, b, i_a is not None))
    share = 1.0 / jnp.maximum(jnp.maximum(count[:len(a)], count[len(a):]), 1.0)
    impulse = (j * share) * n - (j_t * share) * t     # on B; -impulse on A
    delta = jnp.concatenate([impulse * m_b, matvec(i_b, cross(r_b, impulse))])
    total = scatter_rows(delta, b, n_bodies)
    if i_a is not None:
        delta_a = jnp.concatenate([-impulse * m_a, -matvec(i_a, cross(r_a, impulse))])
        total = total + scatter_rows(delta_a, a, n_bodies)
    return total[:3], total[3:]
