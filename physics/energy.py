"""Pair potentials, each shipped three ways:

* ``name(dr, ...)``: the energy of one pair at distance ``dr`` (any shape, elementwise);
* ``name_pair(displacement_or_metric, ...)``: ``E(R: [n, dim], **kwargs)`` over all pairs;
* ``name_neighbor_list(displacement_or_metric, box, ...)``: ``(neighbor_fn, E(R, neighbor,
  **kwargs))`` with the list cutoff matched to the potential.

Parameters may be scalars, per-particle ``[n]``, per-pair ``[n, n]`` or per-species
``[S, S]`` (see :mod:`gambol.physics.smap`); call-time keywords override them.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import partition, smap, space

Array = jax.Array


def _metric(displacement_or_metric: Callable) -> Callable:
    return space.canonicalize_displacement_or_metric(displacement_or_metric)


def _max(p) -> float:
    return float(np.max(np.asarray(p)))


def _positive(name: str, value) -> None:
    try:
        v = np.asarray(value)
    except jax.errors.TracerArrayConversionError:       # traced: checked where concrete
        return
    if np.any(~(v > 0)):
        raise ValueError(f"{name}: must be positive, got {v.tolist() if v.ndim else float(v)}")


# ---------------------------------------------------------------------------
# smooth cutoff


def multiplicative_isotropic_cutoff(fn: Callable, r_onset, r_cutoff) -> Callable:
    """``fn(dr) · S(dr)`` with a C¹ switch: ``S = 1`` below ``r_onset``, ``0`` beyond
    ``r_cutoff``, and ``S = (rc² - r²)² (rc² + 2r² - 3ro²) / (rc² - ro²)³`` between.
    (The CHARMM-style switching function; energy and force go smoothly to zero.)"""

    def switched(dr, *args, **kwargs):
        ro, rc = jnp.asarray(r_onset), jnp.asarray(r_cutoff)
        r2, ro2, rc2 = dr * dr, ro * ro, rc * rc
        s = (rc2 - r2) ** 2 * (rc2 + 2 * r2 - 3 * ro2) / (rc2 - ro2) ** 3
        s = jnp.where(dr < ro, 1.0, jnp.where(dr < rc, s, 0.0))
        # keep fn's value finite where it is switched off (e.g. r = 0 padding)
        return jnp.where(dr < rc, fn(dr, *args, **kwargs) * s, 0.0)

    return switched


def _safe_r(dr, floor):
    return jnp.where(dr > 0, dr, floor)


# ---------------------------------------------------------------------------
# pair functions


def soft_sphere(dr: Array, sigma=1.0, epsilon=1.0, alpha=2.0) -> Array:
    """``U = ε/α (1 - r/σ)^α`` for ``r < σ``, else 0 (finite-range repulsion)."""
    x = 1.0 - dr / sigma
    return jnp.where(dr < sigma, epsilon / alpha * jnp.where(x > 0, x, 0.0) ** alpha, 0.0)


def lennard_jones(dr: Array, sigma=1.0, epsilon=1.0) -> Array:
    """``U = 4ε [(σ/r)¹² - (σ/r)⁶]`` (unshifted, no cutoff)."""
    inv = (sigma / _safe_r(dr, 1.0)) ** 2
    inv6 = inv * inv * inv
    return jnp.where(dr > 0, 4.0 * epsilon * (inv6 * inv6 - inv6), 0.0)


def morse(dr: Array, sigma=1.0, epsilon=5.0, alpha=5.0) -> Array:
    """``U = ε (1 - e^{-α(r-σ)})² - ε``: minimum ``-ε`` at ``r = σ``."""
    x = 1.0 - jnp.exp(-alpha * (dr - sigma))
    return epsilon * x * x - epsilon


def simple_spring(dr: Array, length=1.0, epsilon=1.0, alpha=2.0) -> Array:
    """``U = ε/α |r - ℓ|^α``; ``α = 2`` is the harmonic spring ``½ ε (r - ℓ)²``."""
    return epsilon / alpha * jnp.abs(dr - length) ** alpha


# ---------------------------------------------------------------------------
# systems: soft sphere


def soft_sphere_pair(displacement_or_metric: Callable, species=None, sigma=1.0, epsilon=1.0, alpha=2.0,
                     per_particle: bool = False, **kwargs) -> Callable:
    _positive("sigma", sigma)
    return smap.pair(soft_sphere, _metric(displacement_or_metric), species=species, sigma=sigma,
                     epsilon=epsilon, alpha=alpha, per_particle=per_particle, **kwargs)


def soft_sphere_neighbor_list(displacement_or_metric: Callable, box, species=None, sigma=1.0, epsilon=1.0,
                              alpha=2.0, dr_threshold: float = 0.2,
                              format: partition.NeighborListFormat = partition.Dense,
                              capacity_multiplier: float = 1.25, per_particle: bool = False,
                              fractional_coordinates: bool = False, **kwargs):
    _positive("sigma", sigma)
    neighbor_fn = partition.neighbor_list(displacement_or_metric, box, _max(sigma), dr_threshold,
                                          capacity_multiplier=capacity_multiplier, format=format,
                                          fractional_coordinates=fractional_coordinates)
    energy_fn = smap.pair_neighbor_list(soft_sphere, _metric(displacement_or_metric), species=species,
                                        sigma=sigma, epsilon=epsilon, alpha=alpha, per_particle=per_particle,
                                        **kwargs)
    return neighbor_fn, energy_fn


# ---------------------------------------------------------------------------
# systems: Lennard-Jones (cutoffs in units of the largest sigma)


def _lj_cut(r_onset, r_cutoff, sigma):
    if not 0 < r_onset < r_cutoff:
        raise ValueError(f"r_onset, r_cutoff: need 0 < r_onset < r_cutoff, got {r_onset}, {r_cutoff}")
    s = _max(sigma)
    return multiplicative_isotropic_cutoff(lennard_jones, r_onset * s, r_cutoff * s), r_cutoff * s


def lennard_jones_pair(displacement_or_metric: Callable, species=None, sigma=1.0, epsilon=1.0,
                       r_onset: float = 2.0, r_cutoff: float = 2.5, per_particle: bool = False, **kwargs):
    """All-pairs Lennard-Jones switched smoothly to zero between ``r_onset σ`` and
    ``r_cutoff σ``."""
    _positive("sigma", sigma)
    fn, _ = _lj_cut(r_onset, r_cutoff, sigma)
    return smap.pair(fn, _metric(displacement_or_metric), species=species, sigma=sigma, epsilon=epsilon,
                     per_particle=per_particle, **kwargs)


def lennard_jones_neighbor_list(displacement_or_metric: Callable, box, species=None, sigma=1.0, epsilon=1.0,
                                r_onset: float = 2.0, r_cutoff: float = 2.5, dr_threshold: float = 0.5,
                                format: partition.NeighborListFormat = partition.Dense,
                                capacity_multiplier: float = 1.25, per_particle: bool = False,
                                fractional_coordinates: bool = False, **kwargs):
    """Lennard-Jones with a neighbour list of cutoff ``r_cutoff σ + dr_threshold``."""
    _positive("sigma", sigma)
    fn, rc = _lj_cut(r_onset, r_cutoff, sigma)
    neighbor_fn = partition.neighbor_list(displacement_or_metric, box, rc, dr_threshold,
                                          capacity_multiplier=capacity_multiplier, format=format,
                                          fractional_coordinates=fractional_coordinates)
    energy_fn = smap.pair_neighbor_list(fn, _metric(displacement_or_metric), species=species, sigma=sigma,
                                        epsilon=epsilon, per_particle=per_particle, **kwargs)
    return neighbor_fn, energy_fn


# ---------------------------------------------------------------------------
# systems: Morse (cutoffs in absolute units)


def morse_pair(displacement_or_metric: Callable, species=None, sigma=1.0, epsilon=5.0, alpha=5.0,
               r_onset: float = 2.0, r_cutoff: float = 2.5, per_particle: bool = False, **kwargs):
    if not 0 < r_onset < r_cutoff:
        raise ValueError(f"r_onset, r_cutoff: need 0 < r_onset < r_cutoff, got {r_onset}, {r_cutoff}")
    fn = multiplicative_isotropic_cutoff(morse, r_onset, r_cutoff)
    return smap.pair(fn, _metric(displacement_or_metric), species=species, sigma=sigma, epsilon=epsilon,
                     alpha=alpha, per_particle=per_particle, **kwargs)


def morse_neighbor_list(displacement_or_metric: Callable, box, species=None, sigma=1.0, epsilon=5.0,
                        alpha=5.0, r_onset: float = 2.0, r_cutoff: float = 2.5, dr_threshold: float = 0.5,
                        format: partition.NeighborListFormat = partition.Dense,
                        capacity_multiplier: float = 1.25, per_particle: bool = False,
                        fractional_coordinates: bool = False, **kwargs):
    if not 0 < r_onset < r_cutoff:
        raise ValueError(f"r_onset, r_cutoff: need 0 < r_onset < r_cutoff, got {r_onset}, {r_cutoff}")
    fn = multiplicative_isotropic_cutoff(morse, r_onset, r_cutoff)
    neighbor_fn = partition.neighbor_list(displacement_or_metric, box, r_cutoff, dr_threshold,
                                          capacity_multiplier=capacity_multiplier, format=format,
                                          fractional_coordinates=fractional_coordinates)
    energy_fn = smap.pair_neighbor_list(fn, _metric(displacement_or_metric), species=species, sigma=sigma,
                                        epsilon=epsilon, alpha=alpha, per_particle=per_particle, **kwargs)
    return neighbor_fn, energy_fn


# ---------------------------------------------------------------------------
# systems: springs


def simple_spring_bond(displacement_or_metric: Callable, bonds=None, bond_types=None, length=1.0,
                       epsilon=1.0, alpha=2.0, per_particle: bool = False) -> Callable:
    """Springs along explicit bonds ``[b, 2]``: ``Σ_k ε/α |r_k - ℓ|^α``."""
    return smap.bond(simple_spring, _metric(displacement_or_metric), bonds=bonds, bond_types=bond_types,
                     length=length, epsilon=epsilon, alpha=alpha, per_particle=per_particle)


def simple_spring_pair(displacement_or_metric: Callable, species=None, length=1.0, epsilon=1.0, alpha=2.0,
                       r_cutoff: float | None = None, per_particle: bool = False, **kwargs) -> Callable:
    """Springs between all pairs (an elastic network), optionally only below ``r_cutoff``."""
    fn = simple_spring if r_cutoff is None else _hard_cut(simple_spring, r_cutoff)
    return smap.pair(fn, _metric(displacement_or_metric), species=species, length=length, epsilon=epsilon,
                     alpha=alpha, per_particle=per_particle, **kwargs)


def simple_spring_neighbor_list(displacement_or_metric: Callable, box, r_cutoff: float, species=None,
                                length=1.0, epsilon=1.0, alpha=2.0, dr_threshold: float = 0.2,
                                format: partition.NeighborListFormat = partition.Dense,
                                capacity_multiplier: float = 1.25, per_particle: bool = False,
                                fractional_coordinates: bool = False, **kwargs):
    """Springs between every pair closer than ``r_cutoff`` (e.g. a cohesive network)."""
    neighbor_fn = partition.neighbor_list(displacement_or_metric, box, r_cutoff, dr_threshold,
                                          capacity_multiplier=capacity_multiplier, format=format,
                                          fractional_coordinates=fractional_coordinates)
    energy_fn = smap.pair_neighbor_list(_hard_cut(simple_spring, r_cutoff), _metric(displacement_or_metric),
                                        species=species, length=length, epsilon=epsilon, alpha=alpha,
                                        per_particle=per_particle, **kwargs)
    return neighbor_fn, energy_fn


def _hard_cut(fn: Callable, r_cutoff: float) -> Callable:
    def cut(dr, **kwargs):
        return jnp.where(dr < r_cutoff, fn(dr, **kwargs), 0.0)
    return cut
