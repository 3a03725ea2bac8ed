"""Measures of a particle system: force, kinetic energy, temperature, and friends.

Shapes: ``R, P, V: [n, dim]``; ``mass``: scalar or ``[n]``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from . import space

Array = jax.Array


def force(energy_fn: Callable) -> Callable:
    """``F(R, **kwargs) = -∂E/∂R``."""
    grad = jax.grad(energy_fn)

    def force_fn(R: Array, *args, **kwargs) -> Array:
        return -grad(R, *args, **kwargs)

    return force_fn


def canonicalize_force(energy_or_force_fn: Callable) -> Callable:
    """Accept an energy ``E(R) -> scalar`` or a force ``F(R) -> [n, dim]``; return a force."""
    grad = jax.grad(energy_or_force_fn)

    def force_fn(R: Array, **kwargs) -> Array:
        out = jax.eval_shape(lambda r: energy_or_force_fn(r, **kwargs), R)
        if out.shape == ():
            return -grad(R, **kwargs)
        if out.shape == R.shape:
            return energy_or_force_fn(R, **kwargs)
        raise ValueError(f"energy_or_force_fn: returned shape {out.shape}; expected a scalar energy "
                         f"or a force of the positions' shape {R.shape}")

    return force_fn


def _mass(mass, n: int) -> Array:
    m = jnp.asarray(mass)
    if m.ndim == 0:
        return m
    if m.shape == (n,):
        return m[:, None]
    if m.shape == (n, 1):
        return m
    raise ValueError(f"mass: expected a scalar, [{n}] or [{n}, 1], got shape {m.shape}")


def kinetic_energy(*, momentum: Array | None = None, velocity: Array | None = None, mass=1.0) -> Array:
    """``K = Σ p²/2m`` (give momentum or velocity, by keyword)."""
    if (momentum is None) == (velocity is None):
        raise ValueError("kinetic_energy: give exactly one of momentum= or velocity=")
    x = momentum if momentum is not None else velocity
    m = _mass(mass, x.shape[0])
    if momentum is not None:
        return 0.5 * jnp.sum(momentum**2 / m)
    return 0.5 * jnp.sum(m * velocity**2)


def count_dof(position: Array) -> int:
    """Degrees of freedom ``n · dim`` (centre-of-mass motion included)."""
    return position.shape[0] * position.shape[1]


def temperature(*, momentum: Array | None = None, velocity: Array | None = None, mass=1.0) -> Array:
    """Instantaneous ``kT = 2K / (n · dim)``."""
    x = momentum if momentum is not None else velocity
    return 2.0 * kinetic_energy(momentum=momentum, velocity=velocity, mass=mass) / x.size


def momentum_total(momentum: Array) -> Array:
    return jnp.sum(momentum, axis=0)


def center_of_mass(position: Array, mass=1.0) -> Array:
    m = jnp.broadcast_to(_mass(mass, position.shape[0]), (position.shape[0], 1))
    return jnp.sum(m * position, axis=0) / jnp.sum(m)


def volume(dim: int, box) -> Array:
    """Volume (area in 2-D) of a box given as scalar, ``[dim]`` sides or ``[dim, dim]`` matrix."""
    b = jnp.asarray(box)
    if b.ndim == 0:
        return b**dim
    if b.ndim == 1:
        return jnp.prod(b)
    return jnp.linalg.det(b)


def box_size_at_number_density(n: int, density: float, dim: int) -> float:
    """Side of the cubic box holding ``n`` particles at ``density``."""
    return (n / density) ** (1.0 / dim)


def pressure(energy_fn: Callable, position: Array, box, kinetic: Array = 0.0, **kwargs) -> Array:
    """Pressure ``P = 2K/(dim V) - ∂E/∂V`` of a ``periodic_general`` system with fractional
    ``position``; ``∂E/∂V`` comes from an isotropic scaling ``box → (1 + ε) box``."""
    dim = position.shape[1]
    V = volume(dim, box)

    def e_of(eps):
        return energy_fn(position, box=box * (1.0 + eps), **kwargs)

    dE_deps = jax.grad(e_of)(0.0)
    # V(ε) = (1+ε)^dim V  ⇒  dV/dε = dim V at ε = 0
    return 2.0 * kinetic / (dim * V) - dE_deps / (dim * V)


def nearest_neighbor_distance(displacement_fn: Callable, position: Array) -> Array:
    """``[n]`` distance from each particle to its nearest other particle (all pairs)."""
    dr = space.distance(space.map_pair(displacement_fn)(position, position))
    dr = jnp.where(jnp.eye(position.shape[0], dtype=bool), jnp.inf, dr)
    return jnp.min(dr, axis=1)
