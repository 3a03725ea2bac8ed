"""Fetch: the Brax paper's box dog runs to a target that moves on when reached
(version "fetch-v1").

Scene `assets/fetch.toml`: 13 bodies (torso, shoulders, hips, 4 two-link legs,
ground, a static visual target sphere of radius 2), 10 hinges with torque
actuators of strength 150, dt 0.02 with 4 substeps. The target spawns at distance
2 + 15 U and angle 2π U around the world origin, at z = 1; at reset and whenever
the torso comes within 2 of it (a hit), it re-spawns.

obs (101): torso forward axis (obs[0:3]) and up axis (obs[3:6]) in the world,
    |target| (obs[6]) and its direction (obs[7:10]) in the torso frame, the 13
    body positions relative to the torso (obs[10:49]) and the 13 velocities
    (obs[49:88]) in the torso frame, per-body contact flags |dvel|² > 1e-5 (obs[88:101]).
action (10): torques / 150 in [-1, 1].
reward = movingToTarget + torsoIsUp + weightedHits:
    movingToTarget = 0.1 Δx_torso · dir_target (per step, not divided by dt),
    torsoIsUp = 0.1 dt (up · z), weightedHits = hit · (dir_target · forward).
    Metric `hits` counts hits (it is not a reward term). No termination.
reset: `default_qp` with velocities moved by U(-0.1, 0.1), and a random target.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gambol.envs.rigid_env import RigidEnv, contact_flags, local_frame, random_target, unit
from gambol.physics.rigid.math import rotate


class Fetch(RigidEnv):
    asset = "fetch"
    version = "fetch-v1"
    torso_body = "Torso"
    observation_size_ = 101
    reward_terms = ("movingToTarget", "torsoIsUp", "weightedHits")
    extra_metrics = ("hits",)
    target_radius = 2.0
    target_distance = 15.0

    def __init__(self, system=None):
        super().__init__(system)
        self.target = self.sys.body_index("Target")

    def _spawn(self, rng, qp, where=True):
        target = random_target(rng, self.target_radius, self.target_distance, 1.0, 1.0)
        pos = jnp.where(where, target.astype(qp.pos.dtype), qp.pos[self.target])
        return qp.replace(pos=qp.pos.at[self.target].set(pos))

    def initial_info(self, rng, qp):
        k1, k2 = jax.random.split(rng)
        return self._spawn(k1, qp), {"target_rng": k2}

    def observe(self, qp, contact, info):
        t = self.torso
        forward = rotate(jnp.array([1.0, 0.0, 0.0], qp.rot.dtype), qp.rot[t])
        up = rotate(jnp.array([0.0, 0.0, 1.0], qp.rot.dtype), qp.rot[t])
        pos, vel = local_frame(qp, t)
        dist, direction = unit(pos[self.target])
        return self._obs([forward, up, dist, direction, pos, vel, contact_flags(contact)])

    def transition(self, state, action, qp, contact):
        before = state.pipeline_state
        t = self.torso
        dist, direction = unit(qp.pos[self.target] - qp.pos[t])
        forward = rotate(jnp.array([1.0, 0.0, 0.0], qp.rot.dtype), qp.rot[t])
        up = rotate(jnp.array([0.0, 0.0, 1.0], qp.rot.dtype), qp.rot[t])
        hit = (dist < self.target_radius).astype(qp.pos.dtype)
        terms = {"movingToTarget": 0.1 * jnp.dot(qp.pos[t] - before.pos[t], direction),
                 "torsoIsUp": 0.1 * self.sys.dt * up[2],
                 "weightedHits": hit * jnp.dot(direction, forward)}
        rng, sub = jax.random.split(state.info["target_rng"])
        qp = self._spawn(sub, qp, hit > 0)
        return self.finish(state, qp, contact, terms, metrics={"hits": hit},
                           info={"target_rng": rng})
