"""Running mean/variance of observations (Chan et al.'s parallel merge), as a
pytree that trainers update inside jit and can freeze.

Multi-agent obs `[..., n_agents, obs_size]` reduce over every axis but the
last, so one statistic serves a shared-parameter team.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningStats:
    count: jnp.ndarray   # []
    mean: jnp.ndarray    # [size]
    m2: jnp.ndarray      # [size] sum of squared deviations

    @property
    def var(self):
        return self.m2 / jnp.maximum(self.count, 1.0)

    @property
    def std(self):
        return jnp.sqrt(self.var)


def init_stats(size: int, dtype=jnp.float32) -> RunningStats:
    return RunningStats(jnp.zeros((), dtype), jnp.zeros((size,), dtype), jnp.zeros((size,), dtype))


def update_stats(stats: RunningStats, batch, frozen: bool = False) -> RunningStats:
    """Merge `batch: [..., size]` into the statistics (nothing changes when
    `frozen`). Under a jit whose batch is split over devices (`training.parallel`)
    the sums below are the global batch's: XLA reduces across devices."""
    if frozen:
        return stats
    x = jnp.reshape(batch, (-1, stats.mean.shape[-1])).astype(stats.mean.dtype)
    n = jnp.asarray(x.shape[0], stats.count.dtype)
    total = jnp.sum(x, axis=0)
    mean_b = total / n
    m2_b = jnp.sum(jnp.square(x - mean_b), axis=0)
    count = stats.count + n
    delta = mean_b - stats.mean
    mean = stats.mean + delta * n / count
    m2 = stats.m2 + m2_b + jnp.square(delta) * stats.count * n / count
    return RunningStats(count, mean, m2)


def normalize(stats: RunningStats, x, clip: float = 5.0, eps: float = 1e-6):
    """(x - mean) / std, clipped to [-clip, clip]; identity before any update."""
    std = jnp.where(stats.count > 0, jnp.sqrt(stats.var + eps), 1.0)
    return jnp.clip((x - stats.mean) / std, -clip, clip)
