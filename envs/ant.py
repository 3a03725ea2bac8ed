"""Ant: the Brax paper's quadruped runs along +x (version "ant-v2").

Scene `assets/ant.toml`: a 10 kg torso, four two-link legs (8 hinges, 8 torque
actuators of strength 300), dt 0.05 with 10 substeps.

obs (87): torso z (obs[0]), torso quaternion w, x, y, z (obs[1:5]), 8 joint angles
    (obs[5:13], action-slot order: hip_1, knee_1, ..., hip_4, knee_4), torso velocity
    (obs[13:16]), torso angular velocity (obs[16:19]), 8 joint speeds (obs[19:27]),
    then the contact velocity changes of this step, clipped to [-1, 1]: dvel of the
    10 bodies (obs[27:57], body-major) and dang (obs[57:87]).
action (8): torques / 300 in [-1, 1].
reward = reward_forward + reward_ctrl + reward_contact + reward_survive with
    reward_forward = Δx_torso / dt, reward_ctrl = -0.5 Σ a², reward_contact = 0,
    reward_survive = 1.
done: torso z < 0.2 or z > 1.0 (the episode length is the wrapper's).
reset: `default_qp` (hips at 0, knees at the edge of their limits, +-30 degrees) with
    every velocity axis moved by U(-0.1, 0.1). (The Brax paper's ant starts at the
    midpoints of the joint limits, knees at 50 degrees.)
versions: v2 starts with the knees inside their limits; v1 started them straight
    (0 degrees, outside the limits), so the limit springs launched the ant in its first
    steps and about a third of random-action episodes ended at once with z > 1.
"""

from __future__ import annotations

import jax.numpy as jnp

from gambol.envs.rigid_env import RigidEnv


class Ant(RigidEnv):
    asset = "ant"
    version = "ant-v2"
    torso_body = "Torso"
    observation_size_ = 87
    reward_terms = ("reward_forward", "reward_ctrl", "reward_contact", "reward_survive")

    def observe(self, qp, contact, info):
        angles, speeds = contact.joint_angle, contact.joint_speed
        t = self.torso
        return self._obs([qp.pos[t, 2:3], qp.rot[t], angles, qp.vel[t], qp.ang[t], speeds,
                          jnp.clip(contact.contact_vel, -1.0, 1.0),
                          jnp.clip(contact.contact_ang, -1.0, 1.0)])

    def transition(self, state, action, qp, contact):
        before = state.pipeline_state
        t = self.torso
        terms = {"reward_forward": (qp.pos[t, 0] - before.pos[t, 0]) / self.sys.dt,
                 "reward_ctrl": -0.5 * jnp.sum(action ** 2),
                 "reward_contact": jnp.zeros(()),
                 "reward_survive": jnp.ones(())}
        z = qp.pos[t, 2]
        done = (z < 0.2) | (z > 1.0)
        return self.finish(state, qp, contact, terms, done)
