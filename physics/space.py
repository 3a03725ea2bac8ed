"""Spaces: each is a pair of pure functions ``(displacement, shift)`` on single points.

``displacement(Ra, Rb, **kwargs) -> dR`` is the vector from ``Rb`` to ``Ra`` (``Ra - Rb``
under the space's boundary conditions), for ``Ra, Rb: [dim]``.
``shift(R, dR, **kwargs) -> R'`` moves a point by the real-space vector ``dR``.

Lift them to whole systems with :func:`map_pair` (all pairs), :func:`map_neighbor`
(a dense neighbour list) and :func:`map_bond` (explicit pairs).

Convention: ``map_pair(d)(R, R)[i, j] = d(R[i], R[j])`` (points from ``j`` to ``i``) and
``map_neighbor(d)(R, R[idx])[i, m] = d(R[i], R[idx[i, m]])``.

Per-coordinate form: the displacements of :func:`free` and :func:`periodic` treat each
coordinate on its own, so they (and the metrics :func:`canonicalize_displacement_or_metric`
makes from them) also carry ``fn.by_component(Ra, Rb)``: the same function on sequences
of ``dim`` per-coordinate arrays of any broadcastable shape, returning a tuple of
per-coordinate displacements (or, for a metric, the distances).  Lifters use it with
:func:`gather_components` to keep ``x, y, z`` in separate ``[n, m]`` arrays: XLA:CPU
vectorises those several times better than ``[n, m, dim]`` arrays with a minor axis of 2
or 3.  :func:`by_component` returns the form, or ``None`` for other spaces.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
DisplacementFn = Callable[..., Array]
ShiftFn = Callable[..., Array]
Space = tuple[DisplacementFn, ShiftFn]


# ---------------------------------------------------------------------------
# validation helpers (host side, run when a space is built)


def _check_box(name: str, box, allow_matrix: bool) -> None:
    """Raise a ValueError naming ``name`` unless ``box`` is a valid box."""
    try:
        b = np.asarray(box)
    except jax.errors.TracerArrayConversionError:
        return  # traced boxes are checked by shape only
    if not np.issubdtype(b.dtype, np.floating) and not np.issubdtype(b.dtype, np.integer):
        raise TypeError(f"{name}: expected a real number or array, got dtype {b.dtype}")
    if b.ndim == 0 or b.ndim == 1:
        if b.ndim == 1 and b.shape[0] not in (1, 2, 3):
            raise ValueError(f"{name}: expected a scalar or a [dim] vector with dim in (1, 2, 3), "
                             f"got shape {b.shape}")
        if np.any(~np.isfinite(b)) or np.any(b <= 0):
            raise ValueError(f"{name}: every side length must be positive and finite, got {b.tolist()}")
    elif b.ndim == 2 and allow_matrix:
        if b.shape[0] != b.shape[1] or b.shape[0] not in (1, 2, 3):
            raise ValueError(f"{name}: expected a square [dim, dim] matrix with dim in (1, 2, 3), "
                             f"got shape {b.shape}")
        det = np.linalg.det(b)
        if not np.isfinite(det) or det <= 0:
            raise ValueError(f"{name}: the box matrix must have a positive determinant "
                             f"(right-handed, non-degenerate lattice vectors as columns), got det={det}")
    else:
        expected = "a scalar, [dim] vector or [dim, dim] matrix" if allow_matrix else "a scalar or [dim] vector"
        raise ValueError(f"{name}: expected {expected}, got shape {b.shape}")


def _check_points(Ra: Array, Rb: Array) -> None:
    if Ra.shape != Rb.shape:
        raise ValueError(f"displacement: Ra and Rb must have the same shape [dim], got {Ra.shape} and {Rb.shape}")


def _check_box_dim(box, R: Array, name: str = "box") -> None:
    b = jnp.shape(box)
    if len(b) >= 1 and R.shape[-1] != b[0]:
        raise ValueError(f"{name}: box has dimension {b[0]} but positions have dimension {R.shape[-1]} "
                         f"(positions shape {R.shape})")


# ---------------------------------------------------------------------------
# spaces


def free() -> Space:
    """Unbounded Euclidean space: ``d(Ra, Rb) = Ra - Rb``, ``shift(R, dR) = R + dR``."""

    def displacement(Ra: Array, Rb: Array, **unused) -> Array:
        _check_points(Ra, Rb)
        return Ra - Rb

    def shift(R: Array, dR: Array, **unused) -> Array:
        return R + dR

    displacement.by_component = lambda Ra, Rb: tuple(a - b for a, b in zip(Ra, Rb))
    return displacement, shift


def periodic(side, wrapped: bool = True) -> Space:
    """Periodic box ``[0, side)^dim`` with the minimum-image convention.

    ``d(Ra, Rb) = mod(Ra - Rb + side/2, side) - side/2``; ``shift`` wraps into the box when
    ``wrapped``.  ``side`` is a scalar or a ``[dim]`` vector of side lengths; it may be
    traced (so ``jax.grad`` with respect to it works).  For a triclinic box or per-call box
    changes use :func:`periodic_general`.
    """
    _check_box("side", side, allow_matrix=False)

    def displacement(Ra: Array, Rb: Array, **kwargs) -> Array:
        if "box" in kwargs or "side" in kwargs:
            raise TypeError("periodic: displacement does not take a box at call time; "
                            "use space.periodic_general(box) to change the box per call")
        _check_points(Ra, Rb)
        _check_box_dim(side, Ra, "side")
        dR = Ra - Rb
        return dR - side * jnp.round(dR / side)  # minimum image

    def by_component(Ra, Rb) -> tuple:
        sides = [side] * len(Ra) if jnp.ndim(side) == 0 else [side[c] for c in range(jnp.shape(side)[0])]
        if len(sides) != len(Ra):
            raise ValueError(f"side: box has dimension {len(sides)} but positions have dimension {len(Ra)}")
        return tuple((a - b) - L * jnp.round((a - b) / L) for a, b, L in zip(Ra, Rb, sides))

    def shift(R: Array, dR: Array, **kwargs) -> Array:
        if "box" in kwargs or "side" in kwargs:
            raise TypeError("periodic: shift does not take a box at call time; "
                            "use space.periodic_general(box) to change the box per call")
        if wrapped:
            return jnp.mod(R + dR, side)
        return R + dR

    displacement.by_component = by_component
    return displacement, shift


@jax.custom_jvp
def _to_real(box: Array, dU: Array) -> Array:
    """Real-space vector of a fractional displacement: ``box @ dU``.

    The custom JVP passes the fractional tangent through unchanged, so that the gradient
    of an energy with respect to fractional positions is the real-space gradient (the
    force), while the derivative with respect to ``box`` is exact.
    """
    return _apply_box(box, dU)


@_to_real.defjvp
def _to_real_jvp(primals, tangents):
    box, dU = primals
    dbox, ddU = tangents
    return _apply_box(box, dU), _apply_box(dbox, dU) + ddU


def _apply_box(box: Array, v: Array) -> Array:
    box = jnp.asarray(box)
    if box.ndim == 2:
        return box @ v
    return box * v


def _inverse_box(box: Array) -> Array:
    box = jnp.asarray(box)
    if box.ndim == 2:
        return jnp.linalg.inv(box)
    return 1.0 / box


def _wrap_unit(u: Array) -> Array:
    """Nearest image of a fractional displacement: components in [-1/2, 1/2]."""
    return u - jnp.round(u)


def periodic_general(box, fractional_coordinates: bool = True, wrapped: bool = True) -> Space:
    """Periodic space ``T [0,1)^dim`` for a box ``T``: scalar, ``[dim]`` sides, or a
    ``[dim, dim]`` matrix whose columns are the lattice vectors.

    With ``fractional_coordinates=True`` (default) positions ``u`` live in the unit cube:
    ``d(ua, ub) = T · wrap(ua - ub)`` and ``shift(u, dR) = wrap(u + T⁻¹ dR)`` for a
    real-space ``dR``.  Gradients of an energy with respect to ``u`` are real-space
    gradients, and gradients with respect to ``T`` are exact (stress, box optimisation).
    A different box can be passed per call as ``box=`` (both functions).  With
    ``fractional_coordinates=False`` positions are real and the displacement is mapped
    through fractional space.  Minimum image only: cutoffs must stay below half the
    perpendicular box width.
    """
    _check_box("box", box, allow_matrix=True)
    default_box = box

    def displacement(Ra: Array, Rb: Array, **kwargs) -> Array:
        _check_points(Ra, Rb)
        T = kwargs.get("box", default_box)
        if jnp.ndim(T) == 2 and jnp.shape(T)[0] != Ra.shape[-1]:
            raise ValueError(f"box: matrix is {jnp.shape(T)} but positions have dimension {Ra.shape[-1]}")
        _check_box_dim(T, Ra)
        if fractional_coordinates:
            dU = _wrap_unit(Ra - Rb)
        else:
            dU = _wrap_unit(_apply_box(_inverse_box(T), Ra - Rb))
        return _to_real(T, dU)

    def shift(R: Array, dR: Array, **kwargs) -> Array:
        T = kwargs.get("box", default_box)
        if fractional_coordinates:
            u = R + _apply_box(_inverse_box(T), dR)
            return jnp.mod(u, 1.0) if wrapped else u
        if wrapped:
            u = jnp.mod(_apply_box(_inverse_box(T), R + dR), 1.0)
            return _apply_box(T, u)
        return R + dR

    return displacement, shift


# ---------------------------------------------------------------------------
# lifting a single-pair function to systems


def map_pair(fn: Callable[..., Array]) -> Callable[..., Array]:
    """All pairs: ``map_pair(fn)(Ra: [n, dim], Rb: [m, dim])[i, j] = fn(Ra[i], Rb[j])``."""
    return jax.vmap(jax.vmap(fn, (None, 0)), (0, None))


def map_neighbor(fn: Callable[..., Array]) -> Callable[..., Array]:
    """Dense neighbours: ``map_neighbor(fn)(R: [n, dim], Rn: [n, m, dim])[i, k] = fn(R[i], Rn[i, k])``."""
    return jax.vmap(jax.vmap(fn, (None, 0)), (0, 0))


def map_bond(fn: Callable[..., Array]) -> Callable[..., Array]:
    """Bonds: ``map_bond(fn)(Ra: [b, dim], Rb: [b, dim])[k] = fn(Ra[k], Rb[k])``."""
    return jax.vmap(fn, (0, 0))


def dot(a: Array, b: Array) -> Array:
    """``a · b`` over a short last axis, written out term by term: XLA:CPU turns
    ``jnp.sum(a * b, -1)`` over a batch into library dot calls that cost far
    more than the few multiply-adds (2.4x on a 10k-boid flock step)."""
    total = a[..., 0] * b[..., 0]
    for i in range(1, a.shape[-1]):
        total = total + a[..., i] * b[..., i]
    return total


def _safe_sqrt(r2: Array) -> Array:
    safe = r2 > 0
    return jnp.where(safe, jnp.sqrt(jnp.where(safe, r2, 1.0)), 0.0)


def distance(dR: Array) -> Array:
    """``|dR|`` over the last axis, with a zero (not NaN) gradient at ``dR = 0``."""
    return _safe_sqrt(dot(dR, dR))


def distance_by_component(dR) -> Array:
    """``|dR|`` for a sequence of per-coordinate arrays (see :func:`distance`)."""
    return _safe_sqrt(sum(d * d for d in dR))


def by_component(fn: Callable) -> Callable | None:
    """``fn.by_component`` (see the module docstring) or ``None``."""
    return getattr(fn, "by_component", None)


def gather_components(R: Array, idx: Array) -> tuple[Array, ...]:
    """``R[idx]`` for ``R: [n, dim]`` as ``dim`` arrays of ``idx.shape``, one per coordinate."""
    return tuple(R[:, c][idx] for c in range(R.shape[1]))


def square_distance(dR: Array) -> Array:
    return dot(dR, dR)


def canonicalize_displacement_or_metric(fn: Callable[..., Array]) -> Callable[..., Array]:
    """Turn a displacement (returns ``[dim]``) into a metric (returns a scalar); leave a
    metric alone.  Decided by evaluating ``fn`` on abstract 1-, 2- and 3-D points."""
    for dim in (2, 3, 1):
        x = jax.ShapeDtypeStruct((dim,), jnp.float32)
        try:
            out = jax.eval_shape(fn, x, x)
        except (TypeError, ValueError):
            continue
        if out.shape == ():
            return fn
        if out.shape == (dim,):
            def metric(Ra, Rb, **kw):
                return distance(fn(Ra, Rb, **kw))
            if by_component(fn) is not None:
                metric.by_component = lambda Ra, Rb: distance_by_component(fn.by_component(Ra, Rb))
            return metric
    raise ValueError("displacement_or_metric: could not evaluate the function on 1-, 2- or 3-D points")
