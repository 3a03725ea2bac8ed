"""brax 0.14.2's ant (or humanoid) on one of its backends; run by benchmarks/rigid.py and
benchmarks/rigid_envs.py in the venv $ANCHORS/brax.

Imports jax, brax and benchmarks/_common.py only (never gambol). `brax.envs.get_environment(ENV,
backend=B)` (ant: obs 27, action 8; humanoid: obs 244, action 17), no episode or auto-reset
wrapper. SUBSTEPS=native keeps each env as it ships (ant dt 0.05: spring and positional 10 steps
of 0.005, generalized and mjx 5 of 0.01; humanoid dt 0.015: spring and positional 10 of 0.0015,
generalized 5 of 0.003); a number N runs the ant's dt 0.05 in N steps of 0.05 / N (default 10).

  env      `env.step` (physics + observation + reward + done)
  physics  `env.pipeline_step` (the physics substeps alone)

Usage: python _rigid_brax.py BACKEND BATCH STEPS REPEATS WHAT [SUBSTEPS [ENV]]
  BACKEND: spring, positional, generalized or mjx; WHAT: env, physics or env,physics;
  SUBSTEPS: a number (dt 0.05 / SUBSTEPS each, ant only) or native; ENV: ant (default) or another
  brax env name. Prints one `RESULT {json}` line per WHAT.
"""
import json
import sys

import numpy as np
from brax import envs
from importlib import metadata

from _common import time_env_scan

ENV_DT = 0.05


def make_env(backend, substeps, name='ant'):
  if substeps == 'native':
    return envs.get_environment(name, backend=backend)
  if name != 'ant':
    raise ValueError(f'SUBSTEPS: a number is for the ant only (dt 0.05); got {substeps} for {name}')
  env = envs.get_environment(name, backend=backend, n_frames=int(substeps))
  env.sys = env.sys.tree_replace({'opt.timestep': ENV_DT / int(substeps)})
  return env


def measure(backend, batch, steps, repeats, what, substeps='10', name='ant'):
  env = make_env(backend, substeps, name)
  if what == 'env':
    reset_one, step_one = env.reset, env.step
    positions = lambda s: s.pipeline_state.x.pos    # noqa: E731
  else:
    reset_one = lambda key: env.reset(key).pipeline_state      # noqa: E731
    step_one = env.pipeline_step
    positions = lambda ps: ps.x.pos                 # noqa: E731
  info, state = time_env_scan(reset_one, step_one, env.action_size, batch, steps, repeats)
  info.update(lib='brax', version=metadata.version('brax'), backend=backend, what=what, env=name,
              dt=float(env.dt), substeps=int(env._n_frames),
              substep_dt=float(env.sys.opt.timestep), obs_size=int(env.observation_size),
              action_size=int(env.action_size),
              max_abs_position=float(np.max(np.abs(np.asarray(positions(state))))))
  if what == 'env':
    info['done_fraction'] = float(np.mean(np.asarray(state.done)))
  info['physics_substeps_per_s'] = info['env_steps_per_s'] * info['substeps']
  if backend == 'mjx':
    info['mujoco_mjx'] = metadata.version('mujoco-mjx')
  return info


if __name__ == '__main__':
  backend = sys.argv[1]
  batch, steps, repeats = (int(x) for x in sys.argv[2:5])
  substeps = sys.argv[6] if len(sys.argv) > 6 else '10'
  name = sys.argv[7] if len(sys.argv) > 7 else 'ant'
  for what in sys.argv[5].split(','):
    print('RESULT ' + json.dumps(measure(backend, batch, steps, repeats, what, substeps, name)), flush=True)
