"""Many-body energies over neighbourhoods: the Stillinger-Weber potential for silicon, and
the neighbourhood gathering that every energy of more than pairs shares (also used by
:mod:`gambol.physics.neural`).

A *neighbourhood* is ``dR: [n, m, dim]``, the displacements ``d(R_i, R_j)`` from each
particle's ``m`` candidates ``j`` to it, with ``mask: [n, m]`` (True for a real pair) and
``nbr: [n, m]`` (the candidate ids, ``n`` where masked).  All pairs give ``m = n`` (self
masked); a Dense neighbour list gives its rows.  An energy written on a neighbourhood is
therefore the same function in both forms, and ``neighbour list == all pairs`` holds by
construction wherever the list holds every pair within the cutoff.

Only the Dense format is accepted: a three-body term needs each particle's neighbours
together in one row.  The list cutoff is checked against the energy's when the list was
built by :func:`neighbor_list` (the constructors here use it).
"""

from __future__ import annotations

import weakref
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import partition, space

Array = jax.Array

# list cutoffs (r_cutoff + dr_threshold) of the neighbour lists built by `neighbor_list`,
# keyed by their update function (a static field of every NeighborList)
_LIST_CUTOFF: "weakref.WeakKeyDictionary[Callable, float]" = weakref.WeakKeyDictionary()


def neighbor_list(displacement_fn: Callable, box, r_cutoff: float, dr_threshold: float = 0.5,
                  capacity_multiplier: float = 1.25, fractional_coordinates: bool = False,
                  **kwargs) -> partition.NeighborListFns:
    """A Dense :func:`gambol.physics.partition.neighbor_list` whose cutoff the energies of this
    module (and :mod:`gambol.physics.neural`) can check at trace time."""
    fns = partition.neighbor_list(displacement_fn, box, r_cutoff, dr_threshold,
                                  capacity_multiplier=capacity_multiplier, format=partition.Dense,
                                  fractional_coordinates=fractional_coordinates, **kwargs)
    _LIST_CUTOFF[fns.update] = float(r_cutoff) + float(dr_threshold)
    return fns


def check_positions(R, name: str = "R", dim: int | None = None) -> None:
    """Raise unless ``R`` is a floating ``[n, dim]`` array (trace-time)."""
    if not hasattr(R, "ndim") or R.ndim != 2:
        raise ValueError(f"{name}: expected positions of shape [n, dim], got {getattr(R, 'shape', type(R))}")
    if not jnp.issubdtype(R.dtype, jnp.floating):
        raise TypeError(f"{name}: expected a floating dtype, got {R.dtype}")
    if dim is not None and R.shape[1] != dim:
        raise ValueError(f"{name}: expected positions of shape [n, {dim}], got {R.shape}")


def check_neighbor(neighbor, n: int, r_cutoff: float) -> None:
    """Raise (trace-time) unless ``neighbor`` is a Dense list for ``n`` particles whose
    cutoff, where known, covers ``r_cutoff``."""
    if not isinstance(neighbor, partition.NeighborList):
        raise TypeError(f"neighbor: expected a NeighborList, got {type(neighbor).__name__}")
    if neighbor.format is not partition.Dense:
        raise ValueError(f"neighbor: many-body energies need format=Dense (each particle's neighbours "
                         f"in one row), got {neighbor.format.name}")
    if neighbor.reference_position.shape[0] != n:
        raise ValueError(f"neighbor: built for {neighbor.reference_position.shape[0]} particles but R has {n}")
    list_cutoff = _LIST_CUTOFF.get(neighbor.update_fn)
    if list_cutoff is not None and list_cutoff < r_cutoff - 1e-9:
        raise ValueError(f"neighbor: the list's cutoff (r_cutoff + dr_threshold = {list_cutoff:g}) is "
                         f"smaller than the energy's cutoff {r_cutoff:g}; pairs would be missed")


def neighborhood(displacement_fn: Callable, R: Array, neighbor=None, **space_kwargs):
    """``(dR: [n, m, dim], mask: [n, m], nbr: [n, m])``: all pairs when ``neighbor`` is None,
    else the rows of a Dense list (padding masked, its ``dR`` finite)."""
    n = R.shape[0]
    d = lambda a, b: displacement_fn(a, b, **space_kwargs)
    if neighbor is None:
        nbr = jnp.broadcast_to(jnp.arange(n), (n, n))
        mask = ~jnp.eye(n, dtype=bool)
        dR = space.map_pair(d)(R, R)
    else:
        mask = neighbor.idx < n
        nbr = jnp.where(mask, neighbor.idx, n)
        dR = space.map_neighbor(d)(R, R[jnp.where(mask, neighbor.idx, 0)])
    # masked entries get a far-away unit vector so distances stay finite and differentiable
    dR = jnp.where(mask[..., None], dR, jnp.full_like(dR, 1e3))
    return dR, mask, nbr


def distance(dR: Array) -> Array:
    """``|dR|`` over the last axis (``dR`` never zero here: masked entries are far away)."""
    return jnp.sqrt(space.dot(dR, dR))


# ---------------------------------------------------------------------------
# Stillinger-Weber (Stillinger & Weber, Phys. Rev. B 31, 5262 (1985))

SILICON = dict(epsilon=2.1683, sigma=2.0951, A=7.049556277, B=0.6022245584, p=4.0, q=0.0, a=1.8,
               lam=21.0, gamma=1.2)
"""The published parameters for silicon: energies in eV, lengths in Å (``lam`` is λ)."""


def _sw_decay(x: Array, a, gamma) -> Array:
    """``exp(γ / (x - a))`` for ``x < a``, else 0 (smooth, all derivatives vanish at ``a``)."""
    inside = x < a
    return jnp.where(inside, jnp.exp(gamma / jnp.where(inside, x - a, -1.0)), 0.0)


def stillinger_weber_two_body(r: Array, epsilon, sigma, A, B, p, q, a) -> Array:
    """SW eq. (2.3): ``ε A (B x^-p - x^-q) exp(1 / (x - a))``, ``x = r / σ``, zero beyond ``aσ``."""
    x = r / sigma
    return epsilon * A * (B * x ** -p - x ** -q) * _sw_decay(x, a, 1.0)


def stillinger_weber_energy(dR: Array, mask: Array, epsilon=2.1683, sigma=2.0951, A=7.049556277,
                            B=0.6022245584, p=4.0, q=0.0, a=1.8, lam=21.0, gamma=1.2,
                            per_particle: bool = False) -> Array:
    """SW energy of neighbourhoods ``dR: [n, m, dim]``, ``mask: [n, m]``.

    ``E = Σ_{i<j} v2(r_ij) + Σ_i Σ_{j<k} ε λ h(r_ij) h(r_ik) (cos θ_jik + 1/3)²`` with
    ``h(r) = exp(γ / (r/σ - a))`` (eqs. 2.3, 2.5); ``per_particle`` gives ``[n]`` (half of
    each pair to each end, each triplet to its centre)."""
    r = distance(dR)
    v2 = jnp.where(mask, stillinger_weber_two_body(r, epsilon, sigma, A, B, p, q, a), 0.0)
    h = jnp.where(mask, _sw_decay(r / sigma, a, gamma), 0.0)                  # [n, m]
    u = dR / r[..., None]
    cos = jnp.einsum("nmd,nkd->nmk", u, u)                                     # cos θ_jik
    # Σ_{j<k} = ½ Σ_{j≠k}; the j = k terms are h_ij² (1 + 1/3)², removed exactly
    full = jnp.einsum("nm,nmk,nk->n", h, (cos + 1.0 / 3.0) ** 2, h)
    v3 = 0.5 * epsilon * lam * (full - jnp.sum(h * h, axis=1) * (4.0 / 3.0) ** 2)
    per = 0.5 * jnp.sum(v2, axis=1) + v3
    return per if per_particle else jnp.sum(per)


def _sw_params(params: dict) -> dict:
    unknown = set(params) - set(SILICON)
    if unknown:
        raise TypeError(f"stillinger_weber: unknown parameters {sorted(unknown)}; expected some of "
                        f"{sorted(SILICON)}")
    return {**SILICON, **params}


def stillinger_weber_pair(displacement_fn: Callable, per_particle: bool = False, **params) -> Callable:
    """All-pairs (and triplets) SW energy ``E(R: [n, dim], **kwargs)``; ``params`` override
    :data:`SILICON` (also per call); other keywords go to the space (e.g. ``box=``).
    O(n³): for small systems and as a reference for :func:`stillinger_weber_neighbor_list`."""
    base = _sw_params(params)

    def energy(R: Array, **kwargs) -> Array:
        check_positions(R)
        p = {k: kwargs.pop(k) for k in list(kwargs) if k in SILICON}
        dR, mask, _ = neighborhood(displacement_fn, R, None, **kwargs)
        return stillinger_weber_energy(dR, mask, per_particle=per_particle, **{**base, **p})

    return energy


def stillinger_weber_neighbor_list(displacement_fn: Callable, box, dr_threshold: float = 0.5,
                                   capacity_multiplier: float = 1.25, fractional_coordinates: bool = False,
                                   per_particle: bool = False, **params):
    """``(neighbor_fn, E(R, neighbor, **kwargs))``: SW over a Dense list of cutoff
    ``a σ + dr_threshold``.  Raises at trace time for another format, a list for a
    different ``n``, or a list (built here) whose cutoff is below ``a σ``."""
    base = _sw_params(params)
    r_cutoff = float(base["a"] * base["sigma"])
    neighbor_fn = neighbor_list(displacement_fn, box, r_cutoff, dr_threshold,
                                capacity_multiplier=capacity_multiplier,
                                fractional_coordinates=fractional_coordinates)

    def energy(R: Array, neighbor: partition.NeighborList, **kwargs) -> Array:
        check_positions(R)
        check_neighbor(neighbor, R.shape[0], r_cutoff)
        p = {k: kwargs.pop(k) for k in list(kwargs) if k in SILICON}
        dR, mask, _ = neighborhood(displacement_fn, R, neighbor, **kwargs)
        return stillinger_weber_energy(dR, mask, per_particle=per_particle, **{**base, **p})

    return neighbor_fn, energy


# ---------------------------------------------------------------------------
# lattices


def diamond_lattice(cells: int, lattice_constant: float = 5.431) -> tuple[np.ndarray, float]:
    """``(R: [8 cells³, 3], box side)``: a cubic diamond crystal of ``cells³`` conventional
    cells (8 atoms each; silicon's lattice constant 5.431 Å by default)."""
    fcc = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    basis = np.concatenate([fcc, fcc + 0.25])
    g = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    R = ((g + basis[None]) * lattice_constant).reshape(-1, 3)
    return R, cells * lattice_constant
