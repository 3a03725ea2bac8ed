"""Gymnasium vector-adapter throughput: gambol's raw jitted step, its VectorEnv adapter, gymnasium's own.

What is measured (pendulum, episode_length 200, auto-reset on, float32, one process):
  raw_step     jax.jit(env.step)(state, action) of `create("pendulum", batch_size=B)` with a
               fixed device action, block_until_ready after every step (one dispatch per step).
  scan         a lax.scan of SCAN_LEN steps inside one jit (the on-device trainer's view),
               block_until_ready after each call.
  adapter      `to_gymnasium_vector("pendulum", num_envs=B).step(numpy actions)` in a Python
               loop: host->device action, one device call, device->host obs/reward/flags/infos.
  gym_sync     gymnasium's own `make_vec("Pendulum-v1", num_envs=B, vectorization_mode="sync")`
               (a SyncVectorEnv of numpy Pendulum-v1, same dynamics), only for B <= GYM_MAX_B.
All four use the same constant torque (gambol action 0.5 * max_torque 2 = gymnasium action 1.0).
Each figure is env-steps/s = B * steps / seconds, the median of 3 timed repeats after an
untimed warm-up (compilation and first calls).  Ratios > 1 mean the numerator is faster.

Run (from the repository root):
  .venv/bin/python benchmarks/vector_adapter.py [--batch-sizes 1,16,256,4096] [--steps 1000]
  .venv/bin/python benchmarks/vector_adapter.py --quick      # 100 steps per repeat
Output: one JSON object (machine, versions, per-B figures and ratios), then a short summary.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
from _common import machine_info

EPISODE_LENGTH = 200
SCAN_LEN = 100
GYM_MAX_B = 256
REPEATS = 3
ACTION = 0.5   # normalised gambol action; gymnasium's torque is 2 * ACTION


def median_rate(run_once, env_steps):
  """Median env-steps/s over REPEATS calls of `run_once()`, each doing `env_steps` env steps."""
  times = []
  for _ in range(REPEATS):
    t0 = time.perf_counter()
    run_once()
    times.append(time.perf_counter() - t0)
  return env_steps / statistics.median(times)


def bench_raw(B, steps):
  """(raw_step, scan) env-steps/s of the jitted batched env, stepped from Python / scanned on device."""
  import jax
  import jax.numpy as jnp
  import gambol.envs
  env = gambol.envs.create("pendulum", episode_length=EPISODE_LENGTH, batch_size=B, auto_reset=True)
  step = jax.jit(env.step)
  action = jnp.full((B, 1), ACTION, jnp.float32)
  state = jax.block_until_ready(jax.jit(env.reset)(jax.random.PRNGKey(0)))

  def loop():
    nonlocal state
    for _ in range(steps):
      state = step(state, action)
      jax.block_until_ready(state)

  @jax.jit
  def scan(s):
    return jax.lax.scan(lambda c, _: (step(c, action), None), s, None, length=SCAN_LEN)[0]

  calls = max(1, steps // SCAN_LEN)

  def scan_loop():
    nonlocal state
    for _ in range(calls):
      state = jax.block_until_ready(scan(state))

  for _ in range(3):   # warm-up: compile and first dispatches
    jax.block_until_ready(step(state, action))
    jax.block_until_ready(scan(state))
  return median_rate(loop, B * steps), median_rate(scan_loop, B * calls * SCAN_LEN)


def bench_adapter(B, steps):
  """env-steps/s of gambol's gymnasium VectorEnv stepped with numpy actions."""
  import gambol.envs
  venv = gambol.envs.to_gymnasium_vector("pendulum", num_envs=B, episode_length=EPISODE_LENGTH)
  return vector_env_rate(venv, np.full((B, 1), ACTION, np.float32), steps)


def bench_gym_sync(B, steps):
  """env-steps/s of gymnasium's SyncVectorEnv over its numpy Pendulum-v1."""
  import gymnasium
  venv = gymnasium.make_vec("Pendulum-v1", num_envs=B, vectorization_mode="sync")
  return vector_env_rate(venv, np.full((B, 1), 2 * ACTION, np.float32), steps)


def vector_env_rate(venv, actions, steps):
  """env-steps/s of a gymnasium vector env stepped with fixed `actions` in a Python loop."""
  venv.reset(seed=0)
  for _ in range(3):   # warm-up: compile step (and the reset branch) and first dispatches
    venv.step(actions)

  def loop():
    for _ in range(steps):
      venv.step(actions)
  rate = median_rate(loop, actions.shape[0] * steps)
  venv.close()
  return rate


def machine_versions():
  """Versions, backend and devices, on top of the shared machine description."""
  import gymnasium
  import jax
  return machine_info(jax=jax.__version__, jax_backend=jax.default_backend(),
                      jax_devices=[str(d) for d in jax.devices()], gymnasium=gymnasium.__version__)


def ratio(a, b):
  """a / b, or None when either is missing."""
  return a / b if a is not None and b else None


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--batch-sizes', default='1,16,256,4096')
  ap.add_argument('--steps', type=int, default=1000, help='timed steps per repeat')
  ap.add_argument('--quick', action='store_true', help='100 steps per repeat (< 1 min)')
  args = ap.parse_args()
  if args.quick:
    args.steps = 100
  sizes = [int(b) for b in args.batch_sizes.split(',')]

  results = {}
  for B in sizes:
    raw, scan = bench_raw(B, args.steps)
    adapter = bench_adapter(B, args.steps)
    gym = bench_gym_sync(B, args.steps) if B <= GYM_MAX_B else None
    results[str(B)] = dict(
        env_steps_per_s=dict(raw_step=raw, scan=scan, adapter=adapter, gymnasium_sync=gym),
        gymnasium_sync_skipped=None if gym is not None else f'B > {GYM_MAX_B}: too slow',
        us_per_batched_step=dict(raw_step=1e6 * B / raw, adapter=1e6 * B / adapter),
        ratios={'adapter/raw_step': ratio(adapter, raw), 'adapter/gymnasium_sync': ratio(adapter, gym),
                'scan/raw_step': ratio(scan, raw)})
  out = dict(benchmark='vector_adapter', env='pendulum', episode_length=EPISODE_LENGTH,
             steps=args.steps, scan_len=SCAN_LEN, repeats=REPEATS, statistic='median',
             machine=machine_versions(), results=results)
  print(json.dumps(out, indent=1), flush=True)

  print('\nenv-steps/s (median of 3); ratios > 1: numerator faster')
  print(f'{"B":>5} {"raw_step":>12} {"scan":>12} {"adapter":>12} {"gym_sync":>12}'
        f' {"adapt/raw":>9} {"adapt/gym":>9} {"scan/raw":>9} {"adapter us/call":>15}')
  fmt = lambda x, spec: 'skipped' if x is None else format(x, spec)  # noqa: E731
  for B, r in results.items():
    s, q = r['env_steps_per_s'], r['ratios']
    print(f'{B:>5} {s["raw_step"]:>12,.0f} {s["scan"]:>12,.0f} {s["adapter"]:>12,.0f}'
          f' {fmt(s["gymnasium_sync"], ",.0f"):>12} {q["adapter/raw_step"]:>9.2f}'
          f' {fmt(q["adapter/gymnasium_sync"], ".2f"):>9} {q["scan/raw_step"]:>9.1f}'
          f' {r["us_per_batched_step"]["adapter"]:>15.0f}')
  print(f'gym_sync skipped for B > {GYM_MAX_B}; load average at the end: {os.getloadavg()[0]:.2f}'
        f' on {out["machine"]["nproc"]} cores (figures are noisy on a shared CPU)')


if __name__ == '__main__':
  main()
