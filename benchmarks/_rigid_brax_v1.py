"""brax 0.0.16's ant on its spring engine; run by benchmarks/rigid.py in the venv $ANCHORS/braxv1.

Imports jax, brax and benchmarks/_common.py only (never gambol). The ant is the raw env class
built with `legacy_spring=True` (dynamics_mode "legacy_spring", the Brax paper's spring joints;
0.0.16's default ant is the later position-based engine): dt 0.05, 10 substeps, 10 bodies, obs 87,
action 8. No episode or auto-reset wrapper, so no resets inside the timing.

  env      `env.step` (physics + observation + reward + done)
  physics  `env.sys.step` (the 10 physics substeps alone)

Compatibility: 0.0.16's `brax.jumpy._in_jit` asks `jax.core.cur_sublevel()`, which stays at 0
inside jit on jax 0.4.35, so jumpy picks numpy for traced values and jit fails. It is replaced
here by jax's own under-jit test; the physics code is untouched.

Usage: python _rigid_brax_v1.py BATCH STEPS REPEATS WHAT   (WHAT: env, physics or env,physics)
prints one `RESULT {json}` line per WHAT.
"""
import json
import sys

import jax
import numpy as np
from brax import envs
from brax import jumpy

from _common import time_env_scan


def _under_jit():
  return jax.config.jax_disable_jit or jax.core.unsafe_am_i_under_a_jit_DO_NOT_USE()


jumpy._in_jit = _under_jit     # looked up as a module global on every jumpy call


def measure(batch, steps, repeats, what):
  env = envs._envs['ant'](legacy_spring=True)
  config = env.sys.config
  if what == 'env':
    reset_one, step_one = env.reset, env.step
    positions = lambda s: s.qp.pos          # noqa: E731
  else:
    reset_one = lambda key: env.reset(key).qp          # noqa: E731
    step_one = lambda qp, a: env.sys.step(qp, a)[0]    # noqa: E731
    positions = lambda qp: qp.pos           # noqa: E731
  info, state = time_env_scan(reset_one, step_one, env.action_size, batch, steps, repeats)
  info.update(lib='brax', version='0.0.16', backend='legacy_spring', what=what,
              dt=float(config.dt), substeps=int(config.substeps),
              bodies=int(env.sys.num_bodies), obs_size=int(env.observation_size),
              action_size=int(env.action_size),
              max_abs_position=float(np.max(np.abs(np.asarray(positions(state))))))
  info['physics_substeps_per_s'] = info['env_steps_per_s'] * info['substeps']
  return info


if __name__ == '__main__':
  batch, steps, repeats = (int(x) for x in sys.argv[1:4])
  for what in sys.argv[4].split(','):
    print('RESULT ' + json.dumps(measure(batch, steps, repeats, what)), flush=True)
