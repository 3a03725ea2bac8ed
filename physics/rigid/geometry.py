"""Collision geometry: signed distance, normal and contact point for pairs of rigid shapes.

Each function takes ONE pair of shapes in world coordinates and returns a :class:`Contact`
holding a fixed number ``k`` of candidate contacts; the engine ``vmap``s it over a batch of
pairs and applies an impulse where ``dist < 0`` (Brax paper contacts, rigid.md section 5).

Conventions:

- Shape A is the first argument group, shape B the second; ``normal`` points from A toward B.
- ``dist`` is the signed gap between the two surfaces along ``normal``; ``dist < 0`` is a
  penetration of depth ``-dist``.
- ``point`` is midway between the two surfaces: ``x_B - dist / 2 * normal`` with ``x_B`` the
  point of B's surface nearest A (A's nearest point is ``x_B - dist * normal``).  For two
  capsules the reference point ``(p1 r2 + p2 r1) / (r1 + r2)`` is the same point when the
  surfaces touch (``dist = 0``) and lies ``|r1 - r2| |dist| / (2 (r1 + r2))`` from it along
  the normal otherwise.
- ``rot: [3, 3]`` is a rotation matrix whose columns are the body's local axes in world frame
  (``world = center + rot @ local``); a box has ``halfsize: [3]`` in its local axes.
- A capsule is its core segment ``center +- half_length * axis`` (``axis`` a unit ``[3]``
  vector, ``half_length = length / 2 - radius``) swept by a ball of ``radius``.
- A plane is the point ``plane_pos`` and the normal ``plane_normal`` (normalised here); its
  solid side is below, so ``dist`` is the height above the plane minus the radius.
- Degenerate configurations (coincident centres, a centre on a segment, parallel or zero-length
  segments) take a fixed fallback direction; every norm and division is guarded with a double
  ``jnp.where``, so values and gradients stay finite.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from .math import cross, dot, matvec, tmatvec

Array = jax.Array

TINY = 1e-9
"""Lengths at or below this (in world units) count as zero: the direction falls back."""

PARALLEL_SIN2 = 1e-6
"""Two segments whose ``sin^2`` of the angle between them is at or below this are parallel."""

GOLDEN_ITERATIONS = 32
"""Golden-section steps for the deepest point of a capsule's segment in a box (0.618^32 ~ 2e-7)."""

CORNER_SIGNS = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))
"""[8, 3] the box corners ``halfsize * sign`` in local axes, in ``itertools.product`` order."""


@struct.dataclass
class Contact:
    """``k`` candidate contacts between shape A and shape B.

    dist: [k] signed separation along ``normal``; < 0 means penetration.
    normal: [k, 3] unit, pointing from shape A toward shape B.
    point: [k, 3] world contact point, midway between the two surfaces.
    """

    dist: Array
    normal: Array
    point: Array


# ---------------------------------------------------------------------------
# input checks (trace time) and guarded vector helpers


_SHAPES = {"rot": (3, 3), "radius": (), "r": (), "r1": (), "r2": (), "half_length": (), "hl1": (), "hl2": ()}
"""Expected shape of each scalar or matrix argument; every other argument is a [3] vector."""


def _checked(fn: str, **named) -> list[Array]:
    """``jnp.asarray`` each input (integers become the default float), raising an error that
    names ``fn`` and the field on a bad shape or dtype."""
    out = []
    for name, value in named.items():
        x = jnp.asarray(value)
        expected = _SHAPES.get(name, (3,))
        if x.shape != expected:
            raise ValueError(f"{fn}: {name} must have shape {expected}, got {x.shape}")
        if jnp.issubdtype(x.dtype, jnp.integer):
            x = x.astype(jnp.result_type(float))
        elif not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{fn}: {name} must be real, got dtype {x.dtype}")
        out.append(x)
    return out


def _unit(v: Array, fallback: Array) -> tuple[Array, Array]:
    """``(v / |v|, |v|)``, with ``fallback`` as the direction where ``|v| <= TINY``."""
    r2 = dot(v, v)
    length = jnp.where(r2 > 0, jnp.sqrt(jnp.where(r2 > 0, r2, 1.0)), 0.0)
    ok = length > TINY
    return jnp.where(ok, v / jnp.where(ok, length, 1.0), fallback), length


def _any_perpendicular(v: Array) -> Array:
    """A unit vector perpendicular to ``v`` (``v`` crossed with its least aligned basis axis)."""
    basis = jnp.eye(3, dtype=v.dtype)
    w = cross(v, basis[jnp.argmin(jnp.abs(v))])
    return _unit(w, basis[0])[0]


def _segment(center: Array, axis: Array, half_length: Array) -> tuple[Array, Array]:
    """A capsule's core segment ``(center - half_length axis, center + half_length axis)``."""
    return center - half_length * axis, center + half_length * axis


def _single(dist: Array, normal: Array, point: Array) -> Contact:
    return Contact(dist=dist[None], normal=normal[None], point=point[None])


# ---------------------------------------------------------------------------
# closest points


def closest_point_on_segment(a0: Array, a1: Array, p: Array) -> Array:
    """The point of segment ``a0 a1`` nearest ``p``: ``a0 + clip((p - a0).d / d.d, 0, 1) d``.

    a0, a1, p: [3]; returns [3].  A zero-length segment returns ``a0``.
    """
    a0, a1, p = _checked("closest_point_on_segment", a0=a0, a1=a1, p=p)
    d = a1 - a0
    dd = dot(d, d)
    ok = dd > TINY**2
    t = jnp.where(ok, jnp.clip(dot(p - a0, d) / jnp.where(ok, dd, 1.0), 0.0, 1.0), 0.0)
    return a0 + t * d


def closest_segment_points(a0: Array, a1: Array, b0: Array, b1: Array) -> tuple[Array, Array]:
    """Closest points ``(p, q)``, ``p`` on segment ``a0 a1`` and ``q`` on ``b0 b1`` (all [3]).

    Minimises ``|a0 + s d1 - b0 - t d2|`` over ``s, t in [0, 1]`` (Ericson, Real-Time
    Collision Detection, 5.1.9): ``s`` from the two infinite lines, clamped; ``t`` the
    nearest on B to A(s), clamped; if ``t`` was clamped, ``s`` the nearest on A to B(t).
    Parallel segments (``sin^2 <= PARALLEL_SIN2``) take ``s`` at the middle of the overlap of
    B's projection onto A (the nearest end of A where they do not overlap), so a capsule
    resting along another is touched at the middle of the shared stretch.  Zero-length
    segments reduce to point-segment queries.
    """
    a0, a1, b0, b1 = _checked("closest_segment_points", a0=a0, a1=a1, b0=b0, b1=b1)
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


def _ball_plane(plane_pos, plane_normal, center, radius):
    """dist = (center - plane_pos).n - radius; point = center - (radius + dist / 2) n."""
    n = _unit(plane_normal, jnp.array([0.0, 0.0, 1.0], dtype=center.dtype))[0]
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
    face = jax.nn.one_hot(jnp.argmin(depth), 3, dtype=x.dtype)
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


# ---------------------------------------------------------------------------
# shape pairs


def sphere_plane(plane_pos, plane_normal, center, radius) -> Contact:
    """A sphere above a plane; k = 1.  ``dist = (center - plane_pos).n - radius``.

    plane_pos, plane_normal, center: [3]; radius: [].
    """
    plane_pos, plane_normal, center, radius = _checked(
        "sphere_plane", plane_pos=plane_pos, plane_normal=plane_normal, center=center, radius=radius)
    return _single(*_ball_plane(plane_pos, plane_normal, center, radius))


def capsule_plane(plane_pos, plane_normal, center, axis, half_length, radius) -> Contact:
    """A capsule above a plane: one contact per end sphere, the ``+axis`` end first; k = 2.

    plane_pos, plane_normal, center, axis: [3]; half_length, radius: [].
    """
    plane_pos, plane_normal, center, axis, half_length, radius = _checked(
        "capsule_plane", plane_pos=plane_pos, plane_normal=plane_normal, center=center, axis=axis,
        half_length=half_length, radius=radius)
    minus, plus = _segment(center, axis, half_length)
    ends = jnp.stack([plus, minus])
    dist, n, point = jax.vmap(_ball_plane, (None, None, 0, None))(plane_pos, plane_normal, ends, radius)
    return Contact(dist=dist, normal=n, point=point)


def box_plane(plane_pos, plane_normal, center, rot, halfsize) -> Contact:
    """A box above a plane: one contact per corner (order of CORNER_SIGNS); k = 8.

    plane_pos, plane_normal, center, halfsize: [3]; rot: [3, 3].
    ``dist_i = (corner_i - plane_pos).n``, ``corner_i = center + rot @ (sign_i * halfsize)``.
    """
    plane_pos, plane_normal, center, rot, halfsize = _checked(
        "box_plane", plane_pos=plane_pos, plane_normal=plane_normal, center=center, rot=rot,
        halfsize=halfsize)
    corners = center + matvec(rot, jnp.asarray(CORNER_SIGNS, center.dtype) * halfsize)
    zero = jnp.zeros((), center.dtype)
    dist, n, point = jax.vmap(_ball_plane, (None, None, 0, None))(plane_pos, plane_normal, corners, zero)
    return Contact(dist=dist, normal=n, point=point)


def sphere_sphere(c1, r1, c2, r2) -> Contact:
    """Two spheres; k = 1.  ``dist = |c2 - c1| - r1 - r2``; coincident centres take normal +z.

    c1, c2: [3]; r1, r2: [].
    """
    c1, r1, c2, r2 = _checked("sphere_sphere", c1=c1, r1=r1, c2=c2, r2=r2)
    return _single(*_ball_ball(c1, r1, c2, r2, jnp.array([0.0, 0.0, 1.0], dtype=c1.dtype)))


def sphere_capsule(c, r, center, axis, half_length, radius) -> Contact:
    """A sphere (A) and a capsule (B); k = 1.  The sphere against the nearest segment point.

    c, center, axis: [3]; r, half_length, radius: [].  A sphere centred on the segment takes a
    normal perpendicular to the capsule axis.
    """
    c, r, center, axis, half_length, radius = _checked(
        "sphere_capsule", c=c, r=r, center=center, axis=axis, half_length=half_length, radius=radius)
    q = closest_point_on_segment(*_segment(center, axis, half_length), c)
    return _single(*_ball_ball(c, r, q, radius, _any_perpendicular(axis)))


def capsule_capsule(center1, axis1, hl1, r1, center2, axis2, hl2, r2) -> Contact:
    """Two capsules; k = 1.  Closest points ``p, q`` of the core segments, then
    ``dist = |q - p| - r1 - r2``, ``n = (q - p)/|q - p|`` (rigid.md section 5).

    center*, axis*: [3]; hl*, r*: [].  Crossing segments take ``n`` along ``axis1 x axis2``
    (or perpendicular to ``axis1`` when the axes are also parallel).
    """
    center1, axis1, hl1, r1, center2, axis2, hl2, r2 = _checked(
        "capsule_capsule", center1=center1, axis1=axis1, hl1=hl1, r1=r1, center2=center2,
        axis2=axis2, hl2=hl2, r2=r2)
    p, q = closest_segment_points(*_segment(center1, axis1, hl1), *_segment(center2, axis2, hl2))
    fallback = _unit(cross(axis1, axis2), _any_perpendicular(axis1))[0]
    return _single(*_ball_ball(p, r1, q, r2, fallback))


def box_sphere(center, rot, halfsize, c, r) -> Contact:
    """A box (A) and a sphere (B); k = 1.

    center, halfsize, c: [3]; rot: [3, 3]; r: [].  Outside the box: the gap from the sphere
    centre to its nearest box point, minus ``r``.  Centre inside: pushed out through the face
    of least penetration, ``dist = -(h_i - |x_i|) - r`` in local coordinates ``x``.
    """
    center, rot, halfsize, c, r = _checked("box_sphere", center=center, rot=rot, halfsize=halfsize, c=c, r=r)
    return _single(*_ball_box(center, rot, halfsize, c, r))


def _capsule_in_box_params(halfsize, p0, p1):
    """Segment parameters ``(t_plus, t_minus)`` of the two capsule contacts, segment in box frame.

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

    zero = jnp.zeros((), p0.dtype)
    lo, hi = jax.lax.fori_loop(0, GOLDEN_ITERATIONS, narrow, (zero, zero + 1.0))
    t_deep = 0.5 * (lo + hi)
    normal = _box_local(halfsize, p0 + t_deep * d)[1]
    face = jax.nn.one_hot(jnp.argmax(jnp.abs(normal)), 3, dtype=bool)
    # Liang-Barsky clip of the segment to |x_j| <= h_j for the two axes j other than the face's
    moving = jnp.abs(d) > TINY
    d_safe = jnp.where(moving, d, 1.0)
    t_a, t_b = (-halfsize - p0) / d_safe, (halfsize - p0) / d_safe
    within = jnp.abs(p0) <= halfsize
    enter = jnp.where(moving, jnp.minimum(t_a, t_b), jnp.where(within, -jnp.inf, jnp.inf))
    leave = jnp.where(moving, jnp.maximum(t_a, t_b), jnp.where(within, jnp.inf, -jnp.inf))
    t_lo = jnp.maximum(0.0, jnp.max(jnp.where(face, -jnp.inf, enter)))
    t_hi = jnp.minimum(1.0, jnp.min(jnp.where(face, jnp.inf, leave)))
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


def box_capsule(center, rot, halfsize, cap_center, axis, half_length, radius) -> Contact:
    """A box (A) and a capsule (B); k = 2, each a ball of ``radius`` at one segment point against the box.

    center, halfsize, cap_center, axis: [3]; rot: [3, 3]; half_length, radius: [].

    Approximation: the deepest point of the core segment in the box's signed distance is found
    by golden-section search; the two contacts are the ends of the stretch of segment lying
    over the box face that holds that point, widened to include it (both ends of a capsule
    lying on a large face, the two face edges for a capsule lying across a narrow box, the box
    edge and the inner end for an overhanging one); where no part of the segment lies over
    that face (edge or corner contacts) both sit at the deepest point; where the deepest point
    is strictly deeper than both ends (a segment through the box) it replaces the shallower
    one, so the deepest contact is always reported.  The contact toward ``+axis`` comes first.  The segment parameters are chosen without gradient:
    gradients treat each contact as a fixed material point of the capsule (exact for the
    deepest point's distance, by the envelope theorem).
    """
    center, rot, halfsize, cap_center, axis, half_length, radius = _checked(
        "box_capsule", center=center, rot=rot, halfsize=halfsize, cap_center=cap_center, axis=axis,
        half_length=half_length, radius=radius)
    a0, a1 = _segment(cap_center, axis, half_length)
    local = tmatvec(jax.lax.stop_gradient(rot), jax.lax.stop_gradient(jnp.stack([a0, a1]) - center))
    t = jax.lax.stop_gradient(jnp.stack(_capsule_in_box_params(jax.lax.stop_gradient(halfsize), *local)))
    balls = a0 + t[:, None] * (a1 - a0)
    dist, n, point = jax.vmap(_ball_box, (None, None, None, 0, None))(center, rot, halfsize, balls, radius)
    return Contact(dist=dist, normal=n, point=point)
