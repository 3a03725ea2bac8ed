"""gymnasium's classic MuJoCo control envs (v5 semantics) on gambol's spring
engine from gymnasium's XML: `mjcf_swimmer`, `mjcf_reacher`,
`mjcf_inverted_pendulum`, `mjcf_inverted_double_pendulum` (in gymnasium as
`gambol/<name>-v5`). The machinery (qpos/qvel read off the engine's bodies,
reset noise through `place`, ctrl mapping) is `mjcf_envs.MjcfEnv`'s.

The pendulums' cart is a slide joint to the world: the engine frees the
cart's world x axis and `MjcfEnv.physics` applies the slide's motor (gear x
ctrl), damping and limit (a spring and damper past the range) as a force on
the cart before every engine substep (`MjcfImport.root_slides`; the engine's
own actions drive joints only, and a force actuator in the engine would need
an action slot that is no joint DoF: slots, `StepInfo.joint_angle` and every
env's observation index them by joint).

Where the spring engine has no equal quantity:
- Swimmer: MuJoCo's fluid forces (`density` 4000, `viscosity` 0.1 in
  swimmer.xml) are what it swims against; the engine has none (the import
  drops them with a warning), so the swimmer's strokes move its centre of
  mass nowhere and `reward_forward` is only the wobble of the torso origin.
  The env is kept for its interface (observation, reward terms, reset), not
  as a task that can be learned here; nothing stops the drift its reset
  velocity noise starts either (random-control returns over 1000 steps:
  median 39, quartiles -33 and 56, against MuJoCo's -2.9).

Random-control episodes against gymnasium's MuJoCo envs (32 each, median
length / return, gambol vs MuJoCo; docs/mjcf_episodes_2026-12-08.jsonl):
inverted pendulum 5 / 4 vs 5 / 4; double 6 / 44.5 vs 6.5 / 49.0; reacher
(1000 steps) -856 vs -849. Soak (docs/mjcf_soak_2026-12-08.jsonl): 288,000
env steps each of the four with resets, 0 non-finite.
- InvertedDoublePendulum's `qfrc_constraint[0]` (the slider's limit force,
  the last observation): the env's slide limit force at the new state.
- The slide limit is a stiff spring and critical damper, MuJoCo's a soft
  constraint; the armature of the swimmer's root axes is dropped.
- The pendulums step the engine at h = 0.2 ms (`substeps`), not the other
  envs' timestep / 10: a joint spring's stiffness is capped by the thin
  poles' moment about their own axis (k = (0.3 / h)^2 I_min / 2), and at
  h = 2 ms the pole hangs 0.7 m off its anchor and swings with a period of
  1.61 s against MuJoCo's 1.16 s (at 0.2 ms: 1.168 s).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gambol.envs.mjcf_envs import MjcfEnv
from gambol.physics.rigid.math import rotate


class InvertedPendulumV5(MjcfEnv):
    """gymnasium InvertedPendulum-v5 on inverted_pendulum.xml: obs (4) = qpos
    (cart x, pole angle), qvel; reward 1 while healthy; ends when the pole
    leans more than 0.2 rad or the state is not finite; frame skip 2 x 0.02 s;
    reset qpos0 + U(-0.01, 0.01), qvel U(-0.01, 0.01)."""
    xml = "inverted_pendulum.xml"
    frame_skip = 2
    substeps = 100          # h = 0.2 ms: the pole's joint spring (k ~ h^-2 I_min) holds its weight within 8 mm
    reset_noise_scale = 0.01
    skipped_qpos = 0
    reward_terms = ("reward_survive",)
    extra_metrics = ()

    def healthy(self, qpos, qvel):
        finite = jnp.all(jnp.isfinite(qpos)) & jnp.all(jnp.isfinite(qvel))
        return finite & (jnp.abs(qpos[1]) <= 0.2)

    def transition(self, state, action, qp, contact):
        qpos, qvel = self.generalized(qp, contact.joint_angle, contact.joint_speed)
        healthy = self.healthy(qpos, qvel)
        return self.finish(state, qp, contact, {"reward_survive": healthy.astype(jnp.float32)}, ~healthy)


class InvertedDoublePendulumV5(MjcfEnv):
    """gymnasium InvertedDoublePendulum-v5 on inverted_double_pendulum.xml:
    obs (9) = cart x, sin and cos of the two hinge angles, clip(qvel, -10,
    10), clip(slider limit force, -10, 10); reward = 10 (healthy) - (0.01 x^2
    + (y - 2)^2) - (1e-3 v1^2 + 5e-3 v2^2) with (x, y) the `tip` site's x and
    z; ends when y <= 1; frame skip 5 x 0.01 s; reset qpos0 + U(-0.1, 0.1),
    qvel 0.1 N(0, 1)."""
    xml = "inverted_double_pendulum.xml"
    frame_skip = 5
    substeps = 50           # h = 0.2 ms, as the single pendulum's
    reset_noise_scale = 0.1
    gaussian_velocity_noise = True
    healthy_reward = 10.0
    tip_in_pole2 = (0.0, 0.0, 0.6)          # the XML's site "tip" in pole2's frame
    reward_terms = ("reward_survive", "distance_penalty", "velocity_penalty")
    extra_metrics = ()

    def extra_obs_size(self) -> int:        # x, sin and cos of the angles, qvel, the limit force
        return (1 + 2 * (self.nq - 1) + self.nv + 1) - (self.nq - self.skipped_qpos + self.nv)

    def tip(self, qp):
        """The tip site's world position [3]."""
        b = self.sys.body_index(self.mjcf.bodies["pole2"])
        local = (np.add(self.mjcf.body_origins["pole2"], self.tip_in_pole2)
                 - np.asarray(self.mjcf.rest_position[self.sys.body_names[b]]))
        return qp.pos[b] + rotate(jnp.asarray(local, qp.pos.dtype), qp.rot[b])

    def observe(self, qp, contact, info):
        qpos, qvel = self.generalized(qp, contact.joint_angle, contact.joint_speed)
        limit = self.slide_forces(qp, jnp.zeros(len(self.mjcf.actuators), qp.pos.dtype))[1]
        return self._obs([qpos[:1], jnp.sin(qpos[1:]), jnp.cos(qpos[1:]), jnp.clip(qvel, -10, 10),
                          jnp.clip(limit, -10, 10)[:1]])

    def transition(self, state, action, qp, contact):
        x, _, y = self.tip(qp)
        _, qvel = self.generalized(qp, contact.joint_angle, contact.joint_speed)
        done = y <= 1
        terms = {"reward_survive": self.healthy_reward * (~done).astype(jnp.float32),
                 "distance_penalty": -(0.01 * x ** 2 + (y - 2) ** 2),
                 "velocity_penalty": -(1e-3 * qvel[1] ** 2 + 5e-3 * qvel[2] ** 2)}
        return self.finish(state, qp, contact, terms, done)


class SwimmerV5(MjcfEnv):
    """gymnasium Swimmer-v5 on swimmer.xml: obs (8) = qpos[2:] (3), qvel (5);
    reward = x velocity of the torso origin - 1e-4 sum(ctrl^2); never ends;
    frame skip 4 x 0.01 s; reset qpos0 + U(-0.1, 0.1), qvel U(-0.1, 0.1).
    Without fluid forces (see the module docstring) it cannot swim."""
    xml = "swimmer.xml"
    frame_skip = 4
    reset_noise_scale = 0.1
    skipped_qpos = 2
    ctrl_cost_weight = 1e-4
    terminate_when_unhealthy = False


class ReacherV5(MjcfEnv):
    """gymnasium Reacher-v5 on reacher.xml: obs (10) = cos and sin of the two
    arm angles, the target's qpos (2), the arm's qvel (2), (fingertip -
    target) xy; reward = -|fingertip - target| - sum(ctrl^2) (`reward_dist`,
    `reward_ctrl`); never ends; frame skip 2 x 0.01 s; reset: arm qpos0 +
    U(-0.1, 0.1), qvel U(-0.005, 0.005), the target uniform in the disc of
    radius 0.2 (rejection sampling, as gymnasium), at rest."""
    xml = "reacher.xml"
    frame_skip = 2
    skipped_qpos = 0
    reward_terms = ("reward_dist", "reward_ctrl")
    extra_metrics = ()
    terminate_when_unhealthy = False

    def extra_obs_size(self) -> int:
        return 2 + 2 - 2                     # cos and sin instead of the angles, the target's qvel left out, xy

    def body_origin(self, qp, name):
        """The world position [3] of MJCF body `name`'s frame origin (a body
        welded into another moves with it)."""
        b = self.sys.body_index(self.mjcf.bodies[name])
        local = np.subtract(self.mjcf.body_origins[name], self.mjcf.rest_position[self.sys.body_names[b]])
        return qp.pos[b] + rotate(jnp.asarray(local, qp.pos.dtype), qp.rot[b])

    def to_target(self, qp):
        return self.body_origin(qp, "fingertip") - self.body_origin(qp, "target")

    def initial_qp(self, rng):
        k1, k2, k3 = jax.random.split(rng, 3)
        q0, _ = self.generalized(self.rest_qp(), *self._rest_angles())

        def cond(c):
            return jnp.linalg.norm(c[1]) >= 0.2

        def draw(c):
            key, sub = jax.random.split(c[0])
            return key, jax.random.uniform(sub, (2,), minval=-0.2, maxval=0.2)

        goal = jax.lax.while_loop(cond, draw, draw((k1, None)))[1]
        dq = jnp.concatenate([jax.random.uniform(k2, (2,), minval=-0.1, maxval=0.1), goal - q0[2:]])
        dv = jnp.concatenate([jax.random.uniform(k3, (2,), minval=-0.005, maxval=0.005), jnp.zeros(2)])
        return self.place(dq, dv), None

    def _rest_angles(self):
        from gambol.physics.rigid import joint_angles
        return joint_angles(self.sys, self.rest_qp())

    def observe(self, qp, contact, info):
        qpos, qvel = self.generalized(qp, contact.joint_angle, contact.joint_speed)
        return self._obs([jnp.cos(qpos[:2]), jnp.sin(qpos[:2]), qpos[2:], qvel[:2], self.to_target(qp)[:2]])

    def transition(self, state, action, qp, contact):
        terms = {"reward_dist": -jnp.linalg.norm(self.to_target(qp)),
                 "reward_ctrl": -jnp.sum(action ** 2)}
        return self.finish(state, qp, contact, terms, None)
