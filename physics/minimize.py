"""Energy minimisers as ``(init_fn, apply_fn)`` pairs: gradient descent and FIRE."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from . import quantity

Array = jax.Array


def gradient_descent(energy_or_force_fn: Callable, shift_fn: Callable, step_size: float = 1e-3):
    """``R ← shift(R, η F(R))``; the state is the positions ``[n, dim]``."""
    force_fn = quantity.canonicalize_force(energy_or_force_fn)

    def init_fn(R: Array, **unused) -> Array:
        return R

    def apply_fn(R: Array, step_size=step_size, **kwargs) -> Array:
        return shift_fn(R, step_size * force_fn(R, **kwargs))

    return init_fn, apply_fn


@struct.dataclass
class FireState:
    position: Array
    momentum: Array
    force: Array
    mass: Array
    dt: Array
    alpha: Array
    n_pos: Array


def fire_descent(energy_or_force_fn: Callable, shift_fn: Callable, dt_start: float = 0.1,
                 dt_max: float = 0.4, n_min: int = 5, f_inc: float = 1.1, f_dec: float = 0.5,
                 alpha_start: float = 0.1, f_alpha: float = 0.99):
    """FIRE (Bitzek et al., PRL 97, 170201, 2006): velocity-Verlet MD whose velocity is
    mixed toward the force, ``v ← (1-α) v + α |v| F̂``, with an adaptive step that grows
    while ``F·v > 0`` and a reset (``v = 0``, ``dt ← f_dec dt``) when it turns negative.
    Defaults are the paper's."""
    force_fn = quantity.canonicalize_force(energy_or_force_fn)

    def init_fn(R: Array, mass=1.0, **kwargs) -> FireState:
        F = force_fn(R, **kwargs)
        dtype = R.dtype
        return FireState(R, jnp.zeros_like(R), F, jnp.asarray(mass, dtype), jnp.asarray(dt_start, dtype),
                         jnp.asarray(alpha_start, dtype), jnp.zeros((), jnp.int32))

    def apply_fn(state: FireState, **kwargs) -> FireState:
        dt, m = state.dt, state.mass
        P = state.momentum + 0.5 * dt * state.force
        R = shift_fn(state.position, dt * P / m)
        F = force_fn(R, **kwargs)
        P = P + 0.5 * dt * F
        # FIRE mixing and step adaptation
        power = jnp.sum(F * P)
        p_norm = jnp.sqrt(jnp.sum(P * P))
        f_norm = jnp.sqrt(jnp.sum(F * F))
        P = (1 - state.alpha) * P + state.alpha * p_norm * F / jnp.where(f_norm > 0, f_norm, 1.0)
        uphill = power <= 0
        n_pos = jnp.where(uphill, 0, state.n_pos + 1)
        grow = (~uphill) & (n_pos > n_min)
        dt_new = jnp.where(uphill, dt * f_dec, jnp.where(grow, jnp.minimum(dt * f_inc, dt_max), dt))
        alpha = jnp.where(uphill, alpha_start, jnp.where(grow, state.alpha * f_alpha, state.alpha))
        P = jnp.where(uphill, jnp.zeros_like(P), P)
        return FireState(R, P, F, m, dt_new.astype(dt.dtype), alpha.astype(dt.dtype), n_pos)

    return init_fn, apply_fn
