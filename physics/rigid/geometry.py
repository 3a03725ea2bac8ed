"""Collision geometry: signed distance, normal and contact point for pairs of rigid shapes.

Each function takes ONE pair of shapes in world coordinates and returns a :class:`Contact`
holding a fixed number ``k`` of candidate contacts; the engine applies an impulse where
``dist < 0`` (Brax paper contacts, rigid.md section 5).  The math lives once in
``geometry_component_first.py``, batched in the engine's component-first layout (``[3, *T]`` vectors,
``[k, *T]`` results); each function here checks its single pair and calls that core with
``T = ()``.

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

import jax
import jax.numpy as jnp
from flax import struct

from . import geometry_component_first
from .geometry_component_first import CORNER_SIGNS, GOLDEN_ITERATIONS, PARALLEL_SIN2, TINY  # noqa: F401  (public constants)

Array = jax.Array


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
# input checks (trace time); the math lives once in geometry_component_first.py (T = () here)


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


def _plane_checked(fn: str, **named) -> list[Array]:
    """``_checked``, then the plane's normal (the second argument) scaled to unit length."""
    plane_pos, plane_normal, *rest = _checked(fn, **named)
    return [plane_pos, geometry_component_first.unit_normal(plane_normal), *rest]


def _contact(dist: Array, normal: Array, point: Array) -> Contact:
    """The core's ``(dist [k], normal [3, k], point [3, k])`` as a Contact with rows [k, 3]."""
    return Contact(dist=dist, normal=normal.T, point=point.T)


# ---------------------------------------------------------------------------
# closest points


def closest_point_on_segment(a0: Array, a1: Array, p: Array) -> Array:
    """The point of segment ``a0 a1`` nearest ``p``: ``a0 + clip((p - a0).d / d.d, 0, 1) d``.

    a0, a1, p: [3]; returns [3].  A zero-length segment returns ``a0``.
    """
    return geometry_component_first.closest_point_on_segment(*_checked("closest_point_on_segment", a0=a0, a1=a1, p=p))


def closest_segment_points(a0: Array, a1: Array, b0: Array, b1: Array) -> tuple[Array, Array]:
    """Closest points ``(p, q)``, ``p`` on segment ``a0 a1`` and ``q`` on ``b0 b1`` (all [3]).

    Ericson's clamped line parameters; parallel segments meet at the middle of their overlap
    (see :func:`geometry_component_first.closest_segment_points`).
    """
    return geometry_component_first.closest_segment_points(*_checked("closest_segment_points", a0=a0, a1=a1, b0=b0, b1=b1))


# ---------------------------------------------------------------------------
# shape pairs


def sphere_plane(plane_pos, plane_normal, center, radius) -> Contact:
    """A sphere above a plane; k = 1.  ``dist = (center - plane_pos).n - radius``.

    plane_pos, plane_normal, center: [3]; radius: [].
    """
    return _contact(*geometry_component_first.sphere_plane(*_plane_checked(
        "sphere_plane", plane_pos=plane_pos, plane_normal=plane_normal, center=center, radius=radius)))


def capsule_plane(plane_pos, plane_normal, center, axis, half_length, radius) -> Contact:
    """A capsule above a plane: one contact per end sphere, the ``+axis`` end first; k = 2.

    plane_pos, plane_normal, center, axis: [3]; half_length, radius: [].
    """
    return _contact(*geometry_component_first.capsule_plane(*_plane_checked(
        "capsule_plane", plane_pos=plane_pos, plane_normal=plane_normal, center=center, axis=axis,
        half_length=half_length, radius=radius)))


def box_plane(plane_pos, plane_normal, center, rot, halfsize) -> Contact:
    """A box above a plane: one contact per corner (order of CORNER_SIGNS); k = 8.

    plane_pos, plane_normal, center, halfsize: [3]; rot: [3, 3].
    ``dist_i = (corner_i - plane_pos).n``, ``corner_i = center + rot @ (sign_i * halfsize)``.
    """
    return _contact(*geometry_component_first.box_plane(*_plane_checked(
        "box_plane", plane_pos=plane_pos, plane_normal=plane_normal, center=center, rot=rot,
        halfsize=halfsize)))


def sphere_sphere(c1, r1, c2, r2) -> Contact:
    """Two spheres; k = 1.  ``dist = |c2 - c1| - r1 - r2``; coincident centres take normal +z.

    c1, c2: [3]; r1, r2: [].
    """
    return _contact(*geometry_component_first.sphere_sphere(*_checked("sphere_sphere", c1=c1, r1=r1, c2=c2, r2=r2)))


def sphere_capsule(c, r, center, axis, half_length, radius) -> Contact:
    """A sphere (A) and a capsule (B); k = 1.  The sphere against the nearest segment point.

    c, center, axis: [3]; r, half_length, radius: [].  A sphere centred on the segment takes a
    normal perpendicular to the capsule axis.
    """
    return _contact(*geometry_component_first.sphere_capsule(*_checked(
        "sphere_capsule", c=c, r=r, center=center, axis=axis, half_length=half_length, radius=radius)))


def capsule_capsule(center1, axis1, hl1, r1, center2, axis2, hl2, r2) -> Contact:
    """Two capsules; k = 1.  Closest points ``p, q`` of the core segments, then
    ``dist = |q - p| - r1 - r2``, ``n = (q - p)/|q - p|`` (rigid.md section 5).

    center*, axis*: [3]; hl*, r*: [].  Crossing segments take ``n`` along ``axis1 x axis2``
    (or perpendicular to ``axis1`` when the axes are also parallel).
    """
    return _contact(*geometry_component_first.capsule_capsule(*_checked(
        "capsule_capsule", center1=center1, axis1=axis1, hl1=hl1, r1=r1, center2=center2,
        axis2=axis2, hl2=hl2, r2=r2)))


def box_sphere(center, rot, halfsize, c, r) -> Contact:
    """A box (A) and a sphere (B); k = 1.

    center, halfsize, c: [3]; rot: [3, 3]; r: [].  Outside the box: the gap from the sphere
    centre to its nearest box point, minus ``r``.  Centre inside: pushed out through the face
    of least penetration, ``dist = -(h_i - |x_i|) - r`` in local coordinates ``x``.
    """
    return _contact(*geometry_component_first.box_sphere(*_checked("box_sphere", center=center, rot=rot, halfsize=halfsize, c=c, r=r)))


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
    return _contact(*geometry_component_first.box_capsule(*_checked(
        "box_capsule", center=center, rot=rot, halfsize=halfsize, cap_center=cap_center, axis=axis,
        half_length=half_length, radius=radius)))
