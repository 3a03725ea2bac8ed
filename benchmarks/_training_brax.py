"""brax 0.14.2's trainers (PPO, SAC, ES, APG) on one of its envs; run by benchmarks/training.py in the
venv $ANCHORS/brax.

Imports jax and brax only (never gambol). brax 0.14.2's trainers call `jax.device_put_replicated`,
which jax 0.10.1 no longer has: a one-device stand-in (stack a leading device axis, `device_put`)
is installed first.

Usage: python _training_brax.py ALGO ENV BACKEND 'JSON_KWARGS'
  ALGO: ppo, sac, es or apg; ENV, BACKEND: `brax.envs.get_environment(ENV, backend=BACKEND)`;
  JSON_KWARGS go to `brax.training.agents.<ALGO>.train.train` as they are, plus `network` (optional:
  {"policy_hidden_layer_sizes": [...], ...}, given to the algorithm's network factory).
Prints one `PROGRESS {json}` line per evaluation (step, wall seconds since the train call, the eval
reward and training/* scalars) and one `RESULT {json}` line at the end with the compile estimate:
the compile of the training epoch, from jax's own compile events
(`_common.CompileClock`): the longest single compile between the first progress call (the untrained
policy's evaluation) and the second, as benchmarks/training.py reads gambol's; `compile_window_s` is
every compile second in that window (SAC's prefill and the like included), and
`first_minus_second_epoch_s` brax's first epoch's training seconds minus its second's (noisy).
"""
import functools
import importlib
import json
import math
import sys
import time
from importlib import metadata

import jax
import jax.numpy as jnp
from brax import envs

from _common import CompileClock

SHIMMED = not hasattr(jax, 'device_put_replicated')
if SHIMMED:
  def _put_replicated(tree, devices):
    stacked = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * len(devices)), tree)
    return jax.device_put(stacked, devices[0])
  jax.device_put_replicated = _put_replicated


def scalars(metrics):
  out = {}
  for name, value in metrics.items():
    if name.startswith(('eval/', 'training/')):
      try:
        out[name] = float(value)
      except (TypeError, ValueError):
        pass
  return out


def run(algo, env_name, backend, kwargs):
  trainer = importlib.import_module(f'brax.training.agents.{algo}.train')
  network = kwargs.pop('network', None)
  if network:
    nets = importlib.import_module(f'brax.training.agents.{algo}.networks')
    factory = {'ppo': 'make_ppo_networks', 'sac': 'make_sac_networks', 'es': 'make_es_networks',
               'apg': 'make_apg_networks'}[algo]
    kwargs['network_factory'] = functools.partial(getattr(nets, factory), **network)
  env = envs.get_environment(env_name, backend=backend)
  clock = CompileClock()
  start = time.perf_counter()
  log = []
  compile_s = {}

  def progress(step, metrics):
    record = {'step': int(step), 'wall_s': time.perf_counter() - start, **scalars(metrics)}
    log.append(record)
    if len(log) == 1:
      clock.mark()
    elif len(log) == 2:
      compile_s.update(compile_s=clock.largest_since_mark(),
                       compile_window_s=clock.total_since_mark())
      record.update(compile_s)
    print('PROGRESS ' + json.dumps(record), flush=True)

  _, params, metrics = trainer.train(environment=env, progress_fn=progress, **kwargs)
  total = time.perf_counter() - start
  walltimes = [0.0] + [r['training/walltime'] for r in log if 'training/walltime' in r]
  epochs = [b - a for a, b in zip(walltimes, walltimes[1:])]
  finite = all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params)
               if hasattr(x, 'dtype') and jnp.issubdtype(x.dtype, jnp.floating))
  return dict(lib='brax', version=metadata.version('brax'), jax=jax.__version__, algo=algo,
              env=env_name, backend=backend, obs_size=int(env.observation_size),
              action_size=int(env.action_size), env_dt=float(env.dt),
              kwargs={k: v for k, v in kwargs.items() if k != 'network_factory'}, network=network,
              total_wall_s=total, epoch_s=epochs,
              first_minus_second_epoch_s=(epochs[0] - epochs[1]) if len(epochs) >= 2 else None,
              compile_s=compile_s.get('compile_s'), compile_window_s=compile_s.get('compile_window_s'),
              final_eval_reward=float(metrics.get('eval/episode_reward', math.nan)),
              final_params_finite=finite, device_put_replicated_shim=SHIMMED, progress=log)


if __name__ == '__main__':
  result = run(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
  print('RESULT ' + json.dumps(result), flush=True)
