"""brax 0.0.16's envs on its spring engine; run by benchmarks/rigid.py and benchmarks/rigid_envs.py
in the venv $ANCHORS/braxv1 (jax 0.4.35) or $ANCHORS/braxv1_jax010 (jax 0.10.1).

Imports jax, brax and benchmarks/_common.py only (never gambol). The env (default ant) is the raw
env class of `brax.envs._envs[ENV]` built with `legacy_spring=True` (dynamics_mode
"legacy_spring", the Brax paper's spring joints; 0.0.16's default configs are the later
position-based engine), at its own dt and substeps: ant dt 0.05 x 10 substeps (obs 87, act 8),
halfcheetah 0.05 x 16 (obs 18, act 6), humanoid 0.015 x 8 (obs 227, act 17), grasp 0.02 x 4
(obs 132, act 19), fetch 0.02 x 4 (obs 101, act 10). No episode or auto-reset wrapper, so no
resets inside the timing.

  env      `env.step` (physics + observation + reward + done)
  physics  `env.sys.step` (the 10 physics substeps alone)

Compatibility: the import shims of `_brax_v1_shims.py` (the physics code is untouched).

Usage: python _rigid_brax_v1.py BATCH STEPS REPEATS WHAT [ENV]   (WHAT: env, physics or
env,physics; ENV: ant (default), halfcheetah, humanoid, grasp, fetch, ...)
prints one `RESULT {json}` line per WHAT.
"""
import json
import sys

import numpy as np

import _brax_v1_shims    # noqa: F401  (before brax)
from brax import envs    # noqa: E402

from _common import time_env_scan

_brax_v1_shims.patch_jumpy()


def measure(batch, steps, repeats, what, name='ant'):
  env = envs._envs[name](legacy_spring=True)
  config = env.sys.config
  if what == 'env':
    reset_one, step_one = env.reset, env.step
    positions = lambda s: s.qp.pos          # noqa: E731
  else:
    reset_one = lambda key: env.reset(key).qp          # noqa: E731
    step_one = lambda qp, a: env.sys.step(qp, a)[0]    # noqa: E731
    positions = lambda qp: qp.pos           # noqa: E731
  info, state = time_env_scan(reset_one, step_one, env.action_size, batch, steps, repeats)
  info.update(lib='brax', version='0.0.16', backend='legacy_spring', what=what, env=name,
              dt=float(config.dt), substeps=int(config.substeps),
              bodies=int(env.sys.num_bodies), obs_size=int(env.observation_size),
              action_size=int(env.action_size),
              max_abs_position=float(np.max(np.abs(np.asarray(positions(state))))))
  if what == 'env':
    info['done_fraction'] = float(np.mean(np.asarray(state.done)))
  info['physics_substeps_per_s'] = info['env_steps_per_s'] * info['substeps']
  return info


if __name__ == '__main__':
  batch, steps, repeats = (int(x) for x in sys.argv[1:4])
  name = sys.argv[5] if len(sys.argv) > 5 else 'ant'
  for what in sys.argv[4].split(','):
    print('RESULT ' + json.dumps(measure(batch, steps, repeats, what, name)), flush=True)
