"""MuJoCo's own C engine through gymnasium (default `Ant-v5`); run by benchmarks/rigid_envs.py in
the venv $ANCHORS/mujoco.

Imports gymnasium, mujoco, numpy and benchmarks/_common.py only (never gambol or jax). One env,
one process, CPU. Ant-v5 as it ships: dt 0.05 = frame_skip 5 x timestep 0.01, obs 105, action 8.
The actions are drawn once, uniform in [-1, 1] ([steps, action_size], numpy seed SEED), and
replayed; the env is reset (seed SEED) once before the timing.

  env      `env.step(action)` of `gymnasium.make(ENV_ID)` (TimeLimit and the other default
           wrappers included: physics + observation + reward), plus `env.reset()` whenever an
           episode terminates or is truncated (as a gymnasium user's loop does; counted in
           `resets`, inside the timing).
  physics  `mujoco.mj_step(model, data, nstep=frame_skip)` on the env's model and data after
           writing the action to `data.ctrl` (one env step of physics, no gymnasium, no resets).

After 100 untimed steps, REPEATS timed blocks of STEPS steps each; env steps/s is
STEPS / median block time.

Usage: python _rigid_mujoco.py STEPS REPEATS WHAT [ENV_ID [SEED]]   (WHAT: env, physics or
env,physics) prints one `RESULT {json}` line per WHAT.
"""
import json
import statistics
import sys
import time
from importlib import metadata

import gymnasium
import mujoco
import numpy as np

WARMUP = 100


def measure(steps, repeats, what, env_id='Ant-v5', seed=0):
  env = gymnasium.make(env_id)
  env.reset(seed=seed)
  inner = env.unwrapped
  model, data, frame_skip = inner.model, inner.data, int(inner.frame_skip)
  action_size = int(env.action_space.shape[0])
  actions = np.random.default_rng(seed).uniform(-1.0, 1.0, (steps, action_size)).astype(np.float32)
  resets = 0

  def block(n):
    nonlocal resets
    for a in actions[:n]:
      if what == 'env':
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
          env.reset()
          resets += 1
      else:
        data.ctrl[:] = a
        mujoco.mj_step(model, data, nstep=frame_skip)

  block(min(WARMUP, steps))
  resets = 0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    block(steps)
    times.append(time.perf_counter() - t0)
  median = statistics.median(times)
  info = dict(lib='mujoco', version=mujoco.__version__, gymnasium=metadata.version('gymnasium'),
              backend='mujoco-c', what=what, env=env_id, batch=1, steps_per_call=steps,
              repeats=repeats, call_times_s=times, median_call_s=median,
              env_steps_per_s=steps / median, dt=float(inner.dt), substeps=frame_skip,
              substep_dt=float(model.opt.timestep), obs_size=int(env.observation_space.shape[0]),
              action_size=action_size, resets=resets if what == 'env' else 0,
              all_finite=bool(np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))),
              max_abs_position=float(np.max(np.abs(data.xpos))))
  info['physics_substeps_per_s'] = info['env_steps_per_s'] * frame_skip
  env.close()
  return info


if __name__ == '__main__':
  steps, repeats = int(sys.argv[1]), int(sys.argv[2])
  env_id = sys.argv[4] if len(sys.argv) > 4 else 'Ant-v5'
  seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
  for what in sys.argv[3].split(','):
    print('RESULT ' + json.dumps(measure(steps, repeats, what, env_id, seed)), flush=True)
