"""Physics checks of the `mjcf_*` envs against MuJoCo side by side (item 4 of
issue 19), one JSON line each:

- the inverted pendulum's free swing period: inverted_pendulum.xml with gravity
  turned upwards (so the pole hangs inside its +-90 degree range), the cart free
  on its rail (slider damping 1, hinge damping 1, as the XML), released from
  rest at a pole angle of 0.5 rad; period from the zero crossings over 4 s;
- the hopper's settling height: hopper.xml at its rest pose (qpos0) with zero
  controls, z = qpos[1] after 60 env steps (0.48 s; gambol's env places its
  lowest collider on the floor, MuJoCo starts at qpos0: the foot 0.1 m above
  it) and its range over the last 10 steps.

    python benchmarks/mjcf_checks.py
"""
from __future__ import annotations

import dataclasses
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from gambol import envs
from gambol.envs.mjcf_classic import InvertedPendulumV5
from gambol.envs.mjcf_envs import gymnasium_xml
from gambol.physics.rigid import build_system

sys.path.insert(0, __import__('os').path.dirname(__file__))
from _common import machine_info  # noqa: E402

SWING_ANGLE, SWING_SECONDS, SETTLE_STEPS = 0.5, 4.0, 60


def period(t, angle):
  """(period, crossings) from the linearly interpolated zero crossings of `angle`."""
  i = np.where(np.sign(angle[1:]) != np.sign(angle[:-1]))[0]
  tc = t[i] - angle[i] * (t[i + 1] - t[i]) / (angle[i + 1] - angle[i])
  return float(2 * np.mean(np.diff(tc))), len(tc)


def mujoco_swing():
  import mujoco
  m = mujoco.MjModel.from_xml_path(str(gymnasium_xml('inverted_pendulum.xml')))
  m.opt.gravity[:] = (0, 0, 9.81)
  d = mujoco.MjData(m)
  d.qpos[1] = SWING_ANGLE
  t, a = [], []
  while d.time < SWING_SECONDS - 1e-9:
    mujoco.mj_step(m, d)
    t.append(d.time)
    a.append(d.qpos[1])
  return period(np.array(t), np.array(a))


def gambol_swing():
  env = InvertedPendulumV5()
  spec = env.mjcf.spec
  env = InvertedPendulumV5(build_system(dataclasses.replace(
      spec, gravity=(0.0, 0.0, 9.81), dt=spec.dt * env.frame_skip, substeps=spec.substeps * env.frame_skip)))
  qp = env.place(jnp.array([0.0, SWING_ANGLE]), jnp.zeros(2))
  n = int(round(SWING_SECONDS / float(env.sys.dt)))

  def body(qp, _):
    qp, info = env.physics(qp, jnp.zeros(env.sys.action_size + 1))
    return qp, env.generalized(qp, info.joint_angle, info.joint_speed)[0][1]

  _, a = jax.jit(lambda qp: jax.lax.scan(body, qp, None, length=n))(qp)
  return period(np.arange(1, n + 1) * float(env.sys.dt), np.asarray(a))


def mujoco_settle():
  import gymnasium
  env = gymnasium.make('Hopper-v5', reset_noise_scale=0.0)
  env.reset(seed=0)
  z = [env.unwrapped.data.qpos[1] for _ in range(SETTLE_STEPS) if env.step(np.zeros(3))]
  return np.array(z)


def gambol_settle():
  env = envs.make('mjcf_hopper')
  qp = env.rest_qp()

  def body(qp, _):
    qp, info = env.physics(qp, jnp.zeros(env.sys.action_size))
    return qp, env.generalized(qp, info.joint_angle, info.joint_speed)[0][1]

  return np.asarray(jax.jit(lambda qp: jax.lax.scan(body, qp, None, length=SETTLE_STEPS))(qp)[1])


def main():
  print(json.dumps(machine_info()))
  (mp, mn), (gp, gn) = mujoco_swing(), gambol_swing()
  print(json.dumps({'check': 'inverted_pendulum_swing_period_s', 'mujoco': mp, 'gambol': gp,
                    'relative_difference': gp / mp - 1, 'crossings': [mn, gn]}))
  mz, gz = mujoco_settle(), gambol_settle()
  print(json.dumps({'check': 'hopper_settling_height_m', 'mujoco': float(mz[-1]), 'gambol': float(gz[-1]),
                    'difference_m': float(gz[-1] - mz[-1]), 'mujoco_last10_range': float(np.ptp(mz[-10:])),
                    'gambol_last10_range': float(np.ptp(gz[-10:]))}))


if __name__ == '__main__':
  main()
