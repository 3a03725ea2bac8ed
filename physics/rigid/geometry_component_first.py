"""Collision geometry in the engine's component-first, batch-minor layout (see ``component_first.py``).

The one implementation of every shape-pair contact; ``geometry.py`` wraps each for a single
pair in the public ``[..., 3]`` layout and states the conventions (normal from A to B, ``dist``
the signed gap, ``point`` midway between the surfaces, fallback directions).

Layout: a vector is ``[3, *T]``, a rotation matrix ``[3, 3, *T]`` (columns are the body's local
axes in world frame), a scalar ``[*T]``, where ``*T`` are any trailing batch axes (the engine
uses ``[pairs, envs]``).  Arguments broadcast against each other over ``*T`` by numpy rules
(a radius ``[P, 1]`` against a centre ``[3, P, B]``); every vector and matrix argument carries
all of ``*T`` as axes (size 1 where shared).  A pair function takes the arguments of its
``geometry.py`` namesake in the same order and returns ``(dist [k, *T], normal [3, k, *T],
point [3, k, *T])``, the ``k`` candidate contacts on the axis after the components.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from .component_first import cross, dot, matvec, tmatvec

Array = jax.Array

TINY = 1e-9
"""Lengths at or below this (in world units) count as zero: the direction falls back."""

PARALLEL_SIN2 = 1e-6
"""Two segments whose ``sin^2`` of the angle between them is at or below this are parallel."""

GOLDEN_ITERATIONS = 32
"""Golden-section steps for the deepest point of a capsule's segment in a box (0.618^32 ~ 2e-7)."""

CORNER_SIGNS = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))
"""[8, 3] the box corners ``halfsize * sign`` in local axes, in ``itertools.product`` order."""


# ---------------------------------------------------------------------------
# guarded vector helpers


def _basis(i: int, like: Array) -> Array:
    """The unit axis ``e_i`` as [3, 1, ..., 1], broadcastable against the vector ``like: [3, *T]``."""
    return np.eye(3, dtype=like.dtype)[i].reshape((3,) + (1,) * (like.ndim - 1))     # a constant, not a kernel


def _one_hot(index: Array, dtype) -> Array:
    """[*T] component index -> [3, *T] one-hot, components first."""
    return (jnp.arange(3).reshape((3,) + (1,) * index.ndim) == index).astype(dtype)


def _unit(v: Array, fallback: Array) -> tuple[Array, Array]:
    """``(v / |v|, |v|)``, with ``fallback`` as the direction where ``|v| <= TINY``."""
    r2 = dot(v, v)
    length = jnp.where(r2 > 0, jnp.sqrt(jnp.where(r2 > 0, r2, 1.0)), 0.0)
    ok = length > TINY
    return jnp.where(ok, v / jnp.where(ok, length, 1.0), fallback), length


def _any_perpendicular(v: Array) -> Array:
    """A unit vector perpendicular to ``v`` (``v`` crossed with its least aligned basis axis)."""
    w = cross(v, _one_hot(jnp.argmin(jnp.abs(v), axis=0), v.dtype))
    return _unit(w, _basis(0, v))[0]


def _segment(center: Array, axis: Array, half_length: Array) -> tuple[Array, Array]:
    """A capsule's core segment ``(center - half_length axis, center + half_length axis)``."""
    return center - half_length * axis, center + half_length * axis


def _contacts(dist: Array, normal: Array, point: Array) -> tuple[Array, Array, Array]:
    """Broadcast ``dist [k, *T]``, ``normal, point [3, k, *T]`` to their full shapes."""
    full = jnp.broadcast_shapes(dist.shape, normal.shape[1:], point.shape[1:])
    return (jnp.broadcast_to(dist, full), jnp.broadcast_to(normal, (3,) + full),
            jnp.broadcast_to(point, (3,) + full))


def _single(dist: Array, normal: Array, point: Array) -> tuple[Array, Array, Array]:
    """One contact: a k = 1 axis after the components."""
    return _contacts(dist[None], normal[:, None], point[:, None])


# ---------------------------------------------------------------------------
# closest points


def closest_point_on_segment(a0: Array, a1: Array, p: Array) -> Array:
    """The point of segment ``a0 a1`` nearest ``p``: ``a0 + clip((p - a0).d / d.d, 0, 1) d``.

    a0, a1, p: [3, *T]; returns [3, *T].  A zero-length segment returns ``a0``.
    """
    d = a1 - a0
    dd = dot(d, d)
    ok = dd > TINY**2
    t = jnp.where(ok, jnp.clip(dot(p - a0, d) / jnp.where(ok, dd, 1.0), 0.0, 1.0), 0.0)
    return a0 + t * d


def closest_segment_points(a0: Array, a1: Array, b0: Array, b1: Array) -> tuple[Array, Array]:
    """Closest points ``(p, q)``, ``p`` on segment ``a0 a1`` and ``q`` on ``b0 b1`` (all [3, *T]).

    Minimises ``|a0 + s d1 - b0 - t d2|`` over ``s, t in [0, 1]`` (Ericson, Real-Time
    Collision Detection, 5.1.9): ``s`` from the two infinite lines, clamped; ``t`` the
    nearest on B to A(s), clamped; if ``t`` was clamped, ``s`` the nearest on A to B(t).
    Parallel segments (``sin^2 <= PARALLEL_SIN2``) take ``s`` at the middle of the overlap of
    B's projection onto A (the nearest end of A where they do not overlap), so a capsule
    resting along another is touched at the middle of the shared stretch.  Zero-length
    segments reduce to point-segment queries.
    """
    d1, d2, r = a1 - a0, b1 - b0, a0 - b0
    a, e, b, c, f = dot(d1, d1), dot(d2, d2), dot(d1, d2), dot(d1, r), dot(d2, r)
    a_ok, e_ok = a > TINY**2, e > TINY**2
    a_safe, e_safe = jnp.where(a_ok, a, 1.0), jnp.where(e_ok, e, 1.0)
    denom = a * e - b * b  # |d1|^2 |d2|^2 sin^2(angle)
    parallel = denom <= PARALLEL_SIN2 * a * e
    s_lines = jnp.clip((b * f - c * e) / jnp.where(parallel, 1.0, denom), 0.0, 1.0)
    s_b0, s_b1 = -c / a_safe, (b - c) / a_safe  # B's ends projected onto A's parameter
    lo = jnp.maximum(0.0, jnp.minimum(s_b0, s_b1))
    hi = jnp.minimum(1.0, jnp.maximum(s_b0, s_b1))
    s = jnp.where(parallel, jnp.clip(0.5 * (lo + hi), 0.0, 1.0), s_lines)
    t_free = (b * s + f) / e_safe
    t = jnp.clip(t_free, 0.0, 1.0)
    s = jnp.where((t_free < 0.0) | (t_free > 1.0), jnp.clip((b * t - c) / a_safe, 0.0, 1.0), s)
    # degenerate segments: a point against a segment, or two points
    s = jnp.where(a_ok & e_ok, s, jnp.where(a_ok, jnp.clip(-c / a_safe, 0.0, 1.0), 0.0))
    t = jnp.where(a_ok & e_ok, t, jnp.where(e_ok, jnp.clip(f / e_safe, 0.0, 1.0), 0.0))
    return a0 + s * d1, b0 + t * d2


# ---------------------------------------------------------------------------
# shared cores: a ball against a plane, a ball, a box


def unit_normal(plane_normal: Array) -> Array:
    """A plane's normal [3, *T] scaled to unit length (+z where it is zero).
    The plane functions here take a unit normal: the engine's come from unit
    quaternions; ``geometry.py`` normalises a user's."""
    return _unit(plane_normal, _basis(2, plane_normal))[0]


def _ball_plane(plane_pos, n, center, radius):
    """dist = (center - plane_pos).n - radius; point = center - (radius + dist / 2) n; n unit."""
    dist = dot(center - plane_pos, n) - radius
    return dist, n, center - (radius + 0.5 * dist) * n


def _ball_ball(c1, r1, c2, r2, fallback):
    """dist = |c2 - c1| - r1 - r2; n = (c2 - c1)/|c2 - c1|; point = (c1 + c2)/2 + (r1 - r2)/2 n."""
    n, length = _unit(c2 - c1, fallback)
    return length - r1 - r2, n, 0.5 * (c1 + c2) + 0.5 * (r1 - r2) * n


def _box_local(halfsize: Array, x: Array) -> tuple[Array, Array, Array]:
    """Signed distance from a local point ``x`` to the box, the outward normal and the surface point.

    Outside: the gap to the clamped point ``clip(x, -h, h)``.  Inside (or within TINY of the
    surface): leave through the face of least depth ``h_i - |x_i|``.
    """
    clamped = jnp.clip(x, -halfsize, halfsize)
    out_normal, gap = _unit(x - clamped, jnp.zeros_like(x))
    depth = halfsize - jnp.abs(x)
    face = _one_hot(jnp.argmin(depth, axis=0), x.dtype)
    side = jnp.where(x >= 0.0, 1.0, -1.0)
    outside = gap > TINY
    signed = jnp.where(outside, gap, -dot(depth, face))
    normal = jnp.where(outside, out_normal, side * face)
    surface = jnp.where(outside, clamped, jnp.where(face > 0, side * halfsize, x))
    return signed, normal, surface


def _ball_box(center, rot, halfsize, ball, radius):
    """A ball against a box: (dist, normal box -> ball, midway point), all world frame."""
    signed, normal, surface = _box_local(halfsize, tmatvec(rot, ball - center))
    n = matvec(rot, normal)
    dist = signed - radius
    return dist, n, center + matvec(rot, surface) + 0.5 * dist * n


def _capsule_in_box_params(halfsize, p0, p1):
    """Segment parameters ``(t_plus, t_minus)`` [*T] of the two capsule contacts, segment in box frame.

    ``t*`` minimises the box's signed distance (convex) along the segment: golden section,
    keeping the middle third on ties so a flat stretch yields its middle.  The contacts lie at
    the two ends of the stretch of segment over the face holding that deepest point (the
    segment clipped to the slabs of the two other axes), widened to include ``t*``; both at
    ``t*`` when no part of the segment lies over that face.  Where ``t*`` is strictly deeper
    than both ends (a segment through the box), it replaces the shallower end.
    """
    d = p1 - p0
    sdf = lambda t: _box_local(halfsize, p0 + t * d)[0]
    golden = jnp.asarray(0.5 * (np.sqrt(5.0) - 1.0), p0.dtype)

    def narrow(_, bracket):
        lo, hi = bracket
        m1, m2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        f1, f2 = sdf(m1), sdf(m2)
        # convex: the minimum lies left of m2, right of m1, or (a tie) between them
        return jnp.where(f1 >= f2, m1, lo), jnp.where(f1 <= f2, m2, hi)

    zero = jnp.zeros(jnp.broadcast_shapes(p0.shape[1:], halfsize.shape[1:]), p0.dtype)
    lo, hi = jax.lax.fori_loop(0, GOLDEN_ITERATIONS, narrow, (zero, zero + 1.0))
    t_deep = 0.5 * (lo + hi)
    normal = _box_local(halfsize, p0 + t_deep * d)[1]
    face = _one_hot(jnp.argmax(jnp.abs(normal), axis=0), bool)
    # Liang-Barsky clip of the segment to |x_j| <= h_j for the two axes j other than the face's
    moving = jnp.abs(d) > TINY
    d_safe = jnp.where(moving, d, 1.0)
    t_a, t_b = (-halfsize - p0) / d_safe, (halfsize - p0) / d_safe
    within = jnp.abs(p0) <= halfsize
    enter = jnp.where(moving, jnp.minimum(t_a, t_b), jnp.where(within, -jnp.inf, jnp.inf))
    leave = jnp.where(moving, jnp.maximum(t_a, t_b), jnp.where(within, jnp.inf, -jnp.inf))
    t_lo = jnp.maximum(0.0, jnp.max(jnp.where(face, -jnp.inf, enter), axis=0))
    t_hi = jnp.minimum(1.0, jnp.min(jnp.where(face, jnp.inf, leave), axis=0))
    over_face = t_lo <= t_hi
    t_hi = jnp.where(over_face, jnp.maximum(t_hi, t_deep), t_deep)
    t_lo = jnp.where(over_face, jnp.minimum(t_lo, t_deep), t_deep)
    # deep inside, the deepest point can lie between the stretch's ends: it replaces the shallower end
    f_hi, f_lo, f_deep = sdf(t_hi), sdf(t_lo), sdf(t_deep)
    deeper = f_deep < jnp.minimum(f_hi, f_lo) - 1e-6
    keep = jnp.where(f_hi <= f_lo, t_hi, t_lo)
    t_hi = jnp.where(deeper, jnp.maximum(keep, t_deep), t_hi)
    t_lo = jnp.where(deeper, jnp.minimum(keep, t_deep), t_lo)
    return t_hi, t_lo


# ---------------------------------------------------------------------------
# shape pairs: (dist [k, *T], normal [3, k, *T], point [3, k, *T])


def sphere_plane(plane_pos, plane_normal, center, radius):
    """k = 1.  plane_pos, plane_normal, center: [3, *T]; radius: [*T]."""
    return _single(*_ball_plane(plane_pos, plane_normal, center, radius))


def capsule_plane(plane_pos, plane_normal, center, axis, half_length, radius):
    """k = 2, the ``+axis`` end sphere first.  Vectors [3, *T]; half_length, radius: [*T]."""
    minus, plus = _segment(center, axis, half_length)
    ends = jnp.stack([plus, minus], axis=1)
    return _contacts(*_ball_plane(plane_pos[:, None], plane_normal[:, None], ends, radius))


def box_plane(plane_pos, plane_normal, center, rot, halfsize):
    """k = 8 corners in CORNER_SIGNS order.  Vectors [3, *T]; rot: [3, 3, *T]."""
    signs = jnp.asarray(CORNER_SIGNS.T, center.dtype).reshape((3, 8) + (1,) * (center.ndim - 1))
    corners = center[:, None] + matvec(rot[:, :, None], signs * halfsize[:, None])
    zero = jnp.zeros((), center.dtype)
    return _contacts(*_ball_plane(plane_pos[:, None], plane_normal[:, None], corners, zero))


def sphere_sphere(c1, r1, c2, r2):
    """k = 1; coincident centres take normal +z.  c1, c2: [3, *T]; r1, r2: [*T]."""
    return _single(*_ball_ball(c1, r1, c2, r2, _basis(2, c1)))


def sphere_capsule(c, r, center, axis, half_length, radius):
    """k = 1; a sphere on the segment takes a normal perpendicular to the axis.  Vectors [3, *T]."""
    q = closest_point_on_segment(*_segment(center, axis, half_length), c)
    return _single(*_ball_ball(c, r, q, radius, _any_perpendicular(axis)))


def capsule_capsule(center1, axis1, hl1, r1, center2, axis2, hl2, r2):
    """k = 1; crossing segments take ``n`` along ``axis1 x axis2`` (else perpendicular to axis1)."""
    p, q = closest_segment_points(*_segment(center1, axis1, hl1), *_segment(center2, axis2, hl2))
    fallback = _unit(cross(axis1, axis2), _any_perpendicular(axis1))[0]
    return _single(*_ball_ball(p, r1, q, r2, fallback))


def box_sphere(center, rot, halfsize, c, r):
    """k = 1.  center, halfsize, c: [3, *T]; rot: [3, 3, *T]; r: [*T]."""
    return _single(*_ball_box(center, rot, halfsize, c, r))


def box_capsule(center, rot, halfsize, cap_center, axis, half_length, radius):
    """k = 2 balls of ``radius`` on the segment against the box, the ``+axis`` one first.

    The segment parameters come from :func:`_capsule_in_box_params` without gradient, so
    gradients treat each contact as a fixed material point of the capsule.
    """
    a0, a1 = _segment(cap_center, axis, half_length)
    frame, origin = jax.lax.stop_gradient(rot), jax.lax.stop_gradient(center)
    p0, p1 = (tmatvec(frame, jax.lax.stop_gradient(a) - origin) for a in (a0, a1))
    t = jax.lax.stop_gradient(jnp.stack(_capsule_in_box_params(jax.lax.stop_gradient(halfsize), p0, p1)))
    balls = a0[:, None] + t * (a1 - a0)[:, None]
    return _contacts(*_ball_box(center[:, None], rot[:, :, None], halfsize[:, None], balls, radius))
