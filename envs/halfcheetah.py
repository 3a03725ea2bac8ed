"""Halfcheetah: the Brax paper's planar cheetah runs along +x (version "halfcheetah-v2").

Scene `assets/halfcheetah.toml` (the 25/7 version of the paper): a torso with a
welded-on head, two three-link legs; 6 torque actuators (strengths 240, 180, 120,
240, 120, 60) on bthigh, bshin, bfoot, fthigh, fshin, ffoot; every body frozen to the
x-z plane; dt 0.05 with 16 substeps (brax 0.0.16's number; the paper's 10 left
the front leg chain at the edge of stability: its shin struck 13-19 cm into the floor
in every long random-action run, against 1.6 cm at 16). The weld (a hinge with a zero-width limit) is
the seventh joint, so `action_size = 7` and action[6] moves nothing (it is still in
the control cost, as published). Deviations from the published constants (joint
damping, limb inertia) are explained in the scene file: the published ones blow up.

obs (25): torso z (obs[0]), torso quaternion (obs[1:5]), 7 joint angles (obs[5:12];
    bthigh, bshin, bfoot, fthigh, fshin, ffoot, head weld), torso velocity (obs[12:15]),
    torso angular velocity (obs[15:18]), 7 joint speeds (obs[18:25]). No contacts.
action (7): torques / strength in [-1, 1].
reward = reward_run + reward_ctrl: Δx_torso / dt - 0.1 Σ a². No termination.
reset: `default_qp` with every free velocity axis moved by U(-0.1, 0.1).
versions: v2 steps with 16 substeps; v1 used the paper's 10.
"""

from __future__ import annotations

import jax.numpy as jnp

from gambol.envs.rigid_env import RigidEnv


class Halfcheetah(RigidEnv):
    asset = "halfcheetah"
    version = "halfcheetah-v2"
    torso_body = "torso"
    observation_size_ = 25
    reward_terms = ("reward_run", "reward_ctrl")

    def observe(self, qp, contact, info):
        angles, speeds = contact.joint_angle, contact.joint_speed
        t = self.torso
        return self._obs([qp.pos[t, 2:3], qp.rot[t], angles, qp.vel[t], qp.ang[t], speeds])

    def transition(self, state, action, qp, contact):
        before = state.pipeline_state
        t = self.torso
        terms = {"reward_run": (qp.pos[t, 0] - before.pos[t, 0]) / self.sys.dt,
                 "reward_ctrl": -0.1 * jnp.sum(action ** 2)}
        return self.finish(state, qp, contact, terms)
