"""Humanoid: the Brax paper's humanoid runs along +x (version "humanoid-v2").

Scene `assets/humanoid.toml`: 12 bodies (torso, lwaist, pelvis, thighs, shins with
feet, upper and lower arms, floor), 10 joints with 17 DoF, torque actuators of
strength 300 (abdomen, hips, knees) and 75 (shoulders, elbows), dt 0.015 with 8
substeps; only the shins touch the floor.

obs (299), with the 11 moving bodies in scene order and M their total mass:
    [0]        torso z
    [1:5]      torso quaternion
    [5:22]     17 joint angles, action-slot order (abdomen_z 2, abdomen_x, right_hip 3,
               right_knee, left_hip 3, left_knee, right_shoulder 2, right_elbow,
               left_shoulder 2, left_elbow; the Brax paper groups them by joint type)
    [22:25]    torso velocity, [25:28] torso angular velocity
    [28:45]    17 joint speeds
    [45:144]   cinert: per body the world inertia about the whole-body COM,
               R I Rᵀ + m (|d|² 1 - d dᵀ), d = x_i - x_COM (3x3 each; the Brax paper
               added the stored *inverse* inertia here, a bug not kept)
    [144:177]  m_i v_i / M per body
    [177:210]  (d × v_i) / max(|d|², 0.01) per body (the floor keeps a body at the
               COM from dividing by zero)
    [210:227]  actuator torques a·strength, grouped 1-DoF, 2-DoF, 3-DoF joints
    [227:299]  contact dvel (36) then dang (36) of all 12 bodies this step
action (17): torques / strength in [-1, 1].
reward = reward_linvel + reward_quadctrl + reward_alive + reward_impact:
    1.25 Δx_COM / dt, -0.01 Σ a², 5, 0.
done: torso z < 0.6 or z > 2.1.
reset: `default_qp`, then one physics step with action U[0, 1)^17 · 0.5 (as published).
versions: v2 starts the knees at -2 degrees, inside their limits [-160, -2] (v1: at 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gambol.envs.rigid_env import RigidEnv
from gambol.physics.rigid.math import quat_to_matrix


class Humanoid(RigidEnv):
    asset = "humanoid"
    version = "humanoid-v2"
    torso_body = "torso"
    observation_size_ = 299
    reward_terms = ("reward_linvel", "reward_quadctrl", "reward_alive", "reward_impact")

    def __init__(self, system=None):
        super().__init__(system)
        self.moving = np.asarray([i for i, b in enumerate(self.sys.spec.bodies) if not b.frozen])

    def initial_qp(self, rng):
        qp = self.rest_qp()
        action = 0.5 * jax.random.uniform(rng, (self.sys.action_size,), qp.pos.dtype)
        return self.physics(qp, action)

    def center_of_mass(self, qp):
        m = self.sys.mass[self.moving]
        return jnp.sum(m[:, None] * qp.pos[self.moving], axis=0) / jnp.sum(m)

    def _torques(self, action):
        """a·strength for every DoF, joints grouped by DoF count [action_size]."""
        parts = []
        for g in self.sys.joints:
            slots = np.asarray(g.action_slots, np.int32)
            parts.append((action[slots] * g.torque_strength[:, None]).reshape(-1))
        return jnp.concatenate(parts)

    def observe(self, qp, contact, info):
        sys, b = self.sys, self.moving
        angles, speeds = contact.joint_angle, contact.joint_speed
        m, pos, vel = sys.mass[b], qp.pos[b], qp.vel[b]
        d = pos - self.center_of_mass(qp)
        rot = quat_to_matrix(qp.rot[b])
        inertia = jnp.einsum("bij,bj,bkj->bik", rot, sys.inertia[b], rot)
        d2 = jnp.sum(d * d, axis=-1)
        cinert = inertia + m[:, None, None] * (d2[:, None, None] * jnp.eye(3, dtype=d.dtype)
                                               - d[:, :, None] * d[:, None, :])
        cvel = jnp.concatenate([(m[:, None] * vel / jnp.sum(m)).reshape(-1),
                                (jnp.cross(d, vel) / jnp.maximum(d2, 0.01)[:, None]).reshape(-1)])
        t = self.torso
        return self._obs([qp.pos[t, 2:3], qp.rot[t], angles, qp.vel[t], qp.ang[t], speeds,
                          cinert, cvel, self._torques(info["action"]), contact.contact_vel,
                          contact.contact_ang])

    def initial_info(self, rng, qp):
        return qp, {"action": jnp.zeros(self.sys.action_size)}

    def transition(self, state, action, qp, contact):
        before = state.pipeline_state
        terms = {"reward_linvel": 1.25 * (self.center_of_mass(qp)[0]
                                          - self.center_of_mass(before)[0]) / self.sys.dt,
                 "reward_quadctrl": -0.01 * jnp.sum(action ** 2),
                 "reward_alive": 5.0 * jnp.ones(()),
                 "reward_impact": jnp.zeros(())}
        z = qp.pos[self.torso, 2]
        done = (z < 0.6) | (z > 2.1)
        return self.finish(state, qp, contact, terms, done, info={"action": action})
