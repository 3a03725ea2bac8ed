"""Integrators as ``(init_fn, apply_fn)`` pairs.

``init_fn(key, R, mass=1.0, kT=..., **kwargs) -> state`` and ``apply_fn(state, **kwargs)
-> state``; ``kwargs`` reach the energy (e.g. ``neighbor=nbrs``); ``dt`` and ``kT`` may
also be overridden per call, so they can be traced, scheduled and differentiated.
States are immutable pytrees; positions move only through the space's ``shift_fn``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from . import quantity

Array = jax.Array


@struct.dataclass
class NVEState:
    """``position, momentum, force: [n, dim]``; ``mass``: scalar or ``[n, 1]``."""

    position: Array
    momentum: Array
    force: Array
    mass: Array

    @property
    def velocity(self) -> Array:
        return self.momentum / self.mass


@struct.dataclass
class NVTLangevinState:
    position: Array
    momentum: Array
    force: Array
    mass: Array
    rng: Array

    @property
    def velocity(self) -> Array:
        return self.momentum / self.mass


@struct.dataclass
class BrownianState:
    position: Array
    mass: Array
    rng: Array


def _as_mass(mass, R: Array) -> Array:
    m = jnp.asarray(mass, dtype=R.dtype)
    if m.ndim == 0:
        return m
    if m.shape == (R.shape[0],):
        return m[:, None]
    raise ValueError(f"mass: expected a scalar or [{R.shape[0]}], got shape {m.shape}")


def _check_R(R: Array) -> None:
    if not hasattr(R, "ndim") or R.ndim != 2:
        raise ValueError(f"R: expected positions of shape [n, dim], got {getattr(R, 'shape', type(R))}")


def maxwell_boltzmann_momentum(key: Array, R: Array, mass: Array, kT) -> Array:
    """Momenta drawn at temperature ``kT`` with the centre-of-mass momentum removed."""
    p = jnp.sqrt(mass * kT) * jax.random.normal(key, R.shape, R.dtype)
    n = R.shape[0]
    return p - jnp.broadcast_to(mass, (n, 1)) * jnp.sum(p, 0) / jnp.sum(jnp.broadcast_to(mass, (n, 1)))


# ---------------------------------------------------------------------------
# NVE: velocity Verlet


def nve(energy_or_force_fn: Callable, shift_fn: Callable, dt: float = 1e-3) -> tuple[Callable, Callable]:
    """Constant-energy dynamics by velocity Verlet (time-reversible, symplectic)."""
    force_fn = quantity.canonicalize_force(energy_or_force_fn)

    def init_fn(key: Array, R: Array, mass=1.0, kT=0.0, **kwargs) -> NVEState:
        _check_R(R)
        m = _as_mass(mass, R)
        P = maxwell_boltzmann_momentum(key, R, m, kT)
        return NVEState(R, P, force_fn(R, **kwargs), m)

    def apply_fn(state: NVEState, dt=dt, **kwargs) -> NVEState:
        P = state.momentum + 0.5 * dt * state.force                     # half kick
        R = shift_fn(state.position, dt * P / state.mass)               # drift
        F = force_fn(R, **kwargs)                                       # new force
        P = P + 0.5 * dt * F                                            # half kick
        return NVEState(R, P, F, state.mass)

    return init_fn, apply_fn


# ---------------------------------------------------------------------------
# NVT: Langevin by BAOAB (Leimkuhler & Matthews 2013)


def nvt_langevin(energy_or_force_fn: Callable, shift_fn: Callable, dt: float = 1e-3, kT: float = 1.0,
                 gamma: float = 1.0) -> tuple[Callable, Callable]:
    """Langevin thermostat: ``dp = F dt - γ p dt + sqrt(2 γ m kT) dW``, integrated by the
    BAOAB splitting (kick, drift, exact Ornstein-Uhlenbeck, drift, kick)."""
    force_fn = quantity.canonicalize_force(energy_or_force_fn)

    def init_fn(key: Array, R: Array, mass=1.0, kT=kT, **kwargs) -> NVTLangevinState:
        _check_R(R)
        m = _as_mass(mass, R)
        key, split = jax.random.split(key)
        P = maxwell_boltzmann_momentum(split, R, m, kT)
        return NVTLangevinState(R, P, force_fn(R, **kwargs), m, key)

    def apply_fn(state: NVTLangevinState, dt=dt, kT=kT, gamma=gamma, **kwargs) -> NVTLangevinState:
        key, noise_key = jax.random.split(state.rng)
        m = state.mass
        P = state.momentum + 0.5 * dt * state.force                                   # B
        R = shift_fn(state.position, 0.5 * dt * P / m)                                # A
        c1 = jnp.exp(-gamma * dt)
        xi = jax.random.normal(noise_key, P.shape, P.dtype)
        P = c1 * P + jnp.sqrt((1.0 - c1 * c1) * m * kT) * xi                          # O
        R = shift_fn(R, 0.5 * dt * P / m)                                             # A
        F = force_fn(R, **kwargs)
        P = P + 0.5 * dt * F                                                          # B
        return NVTLangevinState(R, P, F, m, key)

    return init_fn, apply_fn


# ---------------------------------------------------------------------------
# Brownian (overdamped Langevin), Euler-Maruyama


def brownian(energy_or_force_fn: Callable, shift_fn: Callable, dt: float = 1e-3, kT: float = 1.0,
             gamma: float = 1.0) -> tuple[Callable, Callable]:
    """Overdamped dynamics ``dR = F/(γ m) dt + sqrt(2 kT dt/(γ m)) ξ``."""
    force_fn = quantity.canonicalize_force(energy_or_force_fn)

    def init_fn(key: Array, R: Array, mass=1.0, **unused) -> BrownianState:
        _check_R(R)
        return BrownianState(R, _as_mass(mass, R), key)

    def apply_fn(state: BrownianState, dt=dt, kT=kT, gamma=gamma, **kwargs) -> BrownianState:
        key, noise_key = jax.random.split(state.rng)
        R = state.position
        mobility = 1.0 / (gamma * state.mass)
        xi = jax.random.normal(noise_key, R.shape, R.dtype)
        dR = force_fn(R, **kwargs) * mobility * dt + jnp.sqrt(2.0 * kT * dt * mobility) * xi
        return BrownianState(shift_fn(R, dR), state.mass, key)

    return init_fn, apply_fn
