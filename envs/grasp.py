"""Grasp: the Brax paper's claw picks up an object and carries it to targets
(version "grasp-v1").

Scene `assets/grasp.toml`: ground, a capsule object (radius 1), four three-link
fingers on angle servos (strength 300), a static torso frame, the palm (frozen,
moved kinematically) and a visual target sphere (radius 1.1); dt 0.02 with 4
substeps.

action (19): action[:16] are the 16 finger joint targets in [-1, 1], mapped by the
    angle actuators onto each joint's [min, max]; action[16:19] is a palm target
    mapped onto x, y in [-10, 10] and z in [3.5, 13.5]. Before each physics step the
    palm is placed at palm + 0.15 δ, δ = target - palm clipped to length 2 (at most
    0.3 per step). The palm stays frozen (its velocity is 0), so, as published, the
    "hand velocity" below is the velocity of the first finger's proximal link.
obs (139), egocentric in the palm frame: |object| (obs[0]) and its direction
    (obs[1:4]), |target| (obs[4]) and its direction (obs[5:8]), the 17 body positions
    relative to the palm (obs[8:59]) and the 17 velocities (obs[59:110]) in the palm
    frame, hand→object vector (obs[110:113]), hand velocity (obs[113:116]), hand
    velocity along hand→object (obs[116]), |object→target| (obs[117]) and its
    direction (obs[118:121]), object velocity along it (obs[121]), per-body contact
    flags |dvel|² > 1e-5 (obs[122:139]).
reward = movingToObject + closeToObject + touchingObject + targetHit + movingObjectToTarget:
    0.1 dt (v_hand · dir_object), 0.1 dt / (1 + planar |hand→object|),
    0.2 dt (fingertips touching), 5 [|object→target| < 1.1], 1.5 dt (v_object · dir_target).
    Metric `hits` is the 0/1 hit itself. No termination.
target: spawns at horizontal distance 1.1 + 10 U, angle 2π U, height 8 U, at reset and
    whenever it is hit.
reset: `default_qp` (object resting on the ground, palm at height 5) with the moving
    bodies' velocities moved by U(-0.1, 0.1), and a random target.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gambol.envs.rigid_env import RigidEnv, contact_flags, local_frame, random_target, unit


class Grasp(RigidEnv):
    asset = "grasp"
    version = "grasp-v1"
    observation_size_ = 139
    extra_actions = 3
    reward_terms = ("movingToObject", "closeToObject", "touchingObject", "targetHit",
                    "movingObjectToTarget")
    extra_metrics = ("hits",)
    target_radius = 1.1
    palm_low = (-10.0, -10.0, 3.5)
    palm_high = (10.0, 10.0, 13.5)

    def __init__(self, system=None):
        super().__init__(system)
        idx = self.sys.body_index
        self.object, self.target, self.palm = idx("Object"), idx("Target"), idx("HandPalm")
        self.hand = idx("Finger 1 Proximal")
        self.tips = [idx(f"Finger {i} Distal") for i in range(1, 5)]

    def _spawn(self, rng, qp, where=True):
        target = random_target(rng, self.target_radius, 10.0, 0.0, 8.0).astype(qp.pos.dtype)
        return qp.replace(pos=qp.pos.at[self.target].set(jnp.where(where, target, qp.pos[self.target])))

    def initial_info(self, rng, qp):
        k1, k2 = jax.random.split(rng)
        return self._spawn(k1, qp), {"target_rng": k2}

    def observe(self, qp, contact, info):
        pos, vel = local_frame(qp, self.palm)
        obj_dist, obj_dir = unit(pos[self.object])
        tgt_dist, tgt_dir = unit(pos[self.target])
        hand_to_obj = qp.pos[self.object] - qp.pos[self.palm]
        hand_vel = qp.vel[self.hand]
        to_target_dist, to_target_dir = unit(qp.pos[self.target] - qp.pos[self.object])
        return self._obs([obj_dist, obj_dir, tgt_dist, tgt_dir, pos, vel, hand_to_obj, hand_vel,
                          jnp.dot(unit(hand_to_obj)[1], hand_vel), to_target_dist, to_target_dir,
                          jnp.dot(to_target_dir, qp.vel[self.object]), contact_flags(contact)])

    def move_palm(self, qp, palm_action):
        """The palm 0.15 of the way to its target, the step clipped to length 2 first."""
        low, high = jnp.asarray(self.palm_low), jnp.asarray(self.palm_high)
        target = low + (high - low) * (palm_action + 1.0) / 2.0
        palm = qp.pos[self.palm]
        delta = target.astype(palm.dtype) - palm
        norm = jnp.linalg.norm(delta)
        delta = delta * jnp.where(norm > 2.0, 2.0 / jnp.maximum(norm, 2.0), 1.0)
        return qp.replace(pos=qp.pos.at[self.palm].set(palm + 0.15 * delta))

    def prepare(self, state, action):
        return (self.move_palm(state.pipeline_state, action[self.sys.action_size:]),
                action[:self.sys.action_size])

    def transition(self, state, action, qp, contact):
        dt = self.sys.dt
        obj_rel = qp.pos[self.object] - qp.pos[self.palm]
        _, obj_dir = unit(obj_rel)
        target_dist, target_dir = unit(qp.pos[self.target] - qp.pos[self.object])
        hit = (target_dist < self.target_radius).astype(qp.pos.dtype)
        terms = {"movingToObject": 0.1 * dt * jnp.dot(qp.vel[self.hand], obj_dir),
                 "closeToObject": 0.1 * dt / (1.0 + jnp.linalg.norm(obj_rel[:2])),
                 "touchingObject": 0.2 * dt * jnp.sum(contact_flags(contact)[jnp.asarray(self.tips)]),
                 "targetHit": 5.0 * hit,
                 "movingObjectToTarget": 1.5 * dt * jnp.dot(qp.vel[self.object], target_dir)}
        rng, sub = jax.random.split(state.info["target_rng"])
        qp = self._spawn(sub, qp, hit > 0)
        return self.finish(state, qp, contact, terms, metrics={"hits": hit},
                           info={"target_rng": rng})
