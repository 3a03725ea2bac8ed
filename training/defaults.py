"""Per-env, per-algorithm default settings: what `gambol train --env E --algo A` uses
when no `--set` overrides them (in the manner of rl-zoo's hyperparameter files and
Brax's published settings).

Each entry holds the trainer settings (fields of the algorithm's config) and the
env-step budget in which they were measured to learn (`benchmarks/defaults.py`
prints the results for every registered env; the README has the table). A pair
without an entry trains with the trainer's own config defaults.

    settings("pendulum", "ppo")     # {"num_envs": 32, ..., "reward_scaling": 0.1}
    budget("pendulum", "ppo")       # 200_000
"""

from __future__ import annotations

from typing import NamedTuple


class Default(NamedTuple):
    settings: dict          # fields of the algorithm's config
    timesteps: int          # env steps in which they learn (benchmarks/defaults.py)


# PPO on pendulum: 64 x 32-step rollouts would take ~10^6 steps; 32 envs, a 32-step
# unroll, a larger step size and rewards scaled to ~[-1.6, 0] swing it up in 2 x 10^5.
_PPO_PENDULUM = dict(num_envs=32, episode_length=200, unroll_length=32, num_minibatches=4,
                     learning_rate=1e-3, reward_scaling=0.1, num_evals=5)
# SAC on small problems: a small net updated 8 times per batch step after a short prefill.
_SAC_SMALL = dict(num_envs=8, episode_length=200, num_evals=5, batch_size=128, grad_updates_per_step=8,
                  min_replay_size=512, policy_hidden=(64, 64), q_hidden=(64, 64), learning_rate=1e-3,
                  alpha_learning_rate=1e-3)

TABLE: dict[tuple[str, str], Default] = {
    ("pendulum", "ppo"): Default(_PPO_PENDULUM, 200_000),
    ("pendulum", "sac"): Default(_SAC_SMALL, 20_000),
    ("point_reacher", "ppo"): Default({**_PPO_PENDULUM, "reward_scaling": 1.0}, 200_000),
    ("point_reacher", "sac"): Default(_SAC_SMALL, 20_000),
}


def settings(env: str, algo: str) -> dict:
    """The default settings of `algo` on `env` ({} without an entry)."""
    entry = TABLE.get((env, algo))
    return dict(entry.settings) if entry is not None else {}


def budget(env: str, algo: str) -> int | None:
    """The env-step budget the defaults were measured at (None without an entry)."""
    entry = TABLE.get((env, algo))
    return entry.timesteps if entry is not None else None
