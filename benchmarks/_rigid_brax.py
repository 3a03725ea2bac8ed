"""brax 0.14.2's ant on one of its backends; run by benchmarks/rigid.py in the venv $ANCHORS/brax.

Imports jax, brax and benchmarks/_common.py only (never gambol). `brax.envs.get_environment('ant',
backend=B)` (obs 27, action 8), no episode or auto-reset wrapper. Every backend is run at the
same env dt 0.05 in SUBSTEPS physics steps (default 10, as the spring and positional ants ship;
the generalized and mjx ants ship with 5 steps of 0.01, which SUBSTEPS=native keeps).

  env      `env.step` (physics + observation + reward + done)
  physics  `env.pipeline_step` (the physics substeps alone)

Usage: python _rigid_brax.py BACKEND BATCH STEPS REPEATS WHAT [SUBSTEPS]
  BACKEND: spring, positional, generalized or mjx; WHAT: env, physics or env,physics;
  SUBSTEPS: a number (dt 0.05 / SUBSTEPS each) or native. Prints one `RESULT {json}` line per WHAT.
"""
import json
import sys

import numpy as np
from brax import envs
from importlib import metadata

from _common import time_env_scan

ENV_DT = 0.05


def make_ant(backend, substeps):
  if substeps == 'native':
    return envs.get_environment('ant', backend=backend)
  env = envs.get_environment('ant', backend=backend, n_frames=int(substeps))
  env.sys = env.sys.tree_replace({'opt.timestep': ENV_DT / int(substeps)})
  return env


def measure(backend, batch, steps, repeats, what, substeps='10'):
  env = make_ant(backend, substeps)
  if what == 'env':
    reset_one, step_one = env.reset, env.step
    positions = lambda s: s.pipeline_state.x.pos    # noqa: E731
  else:
    reset_one = lambda key: env.reset(key).pipeline_state      # noqa: E731
    step_one = env.pipeline_step
    positions = lambda ps: ps.x.pos                 # noqa: E731
  info, state = time_env_scan(reset_one, step_one, env.action_size, batch, steps, repeats)
  info.update(lib='brax', version=metadata.version('brax'), backend=backend, what=what,
              dt=float(env.dt), substeps=int(env._n_frames),
              substep_dt=float(env.sys.opt.timestep), obs_size=int(env.observation_size),
              action_size=int(env.action_size),
              max_abs_position=float(np.max(np.abs(np.asarray(positions(state))))))
  info['physics_substeps_per_s'] = info['env_steps_per_s'] * info['substeps']
  if backend == 'mjx':
    info['mujoco_mjx'] = metadata.version('mujoco-mjx')
  return info


if __name__ == '__main__':
  backend = sys.argv[1]
  batch, steps, repeats = (int(x) for x in sys.argv[2:5])
  substeps = sys.argv[6] if len(sys.argv) > 6 else '10'
  for what in sys.argv[5].split(','):
    print('RESULT ' + json.dumps(measure(backend, batch, steps, repeats, what, substeps)), flush=True)
