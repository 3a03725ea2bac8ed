"""Soak test of the rigid engine: long random-action runs of the five rigid envs, of
gymnasium's v5 locomotion suite built from its XML (`mjcf_*`, envs/mjcf_envs.py) and
of the bare ant engine, looking for what must never happen.

For each target, two shapes of run:
  long:    --seeds scenes (default 64) x --steps steps (default 100,000) each;
  batched: --batch scenes (default 1,024) for --total / --batch steps (default 10^7 in all).
The envs run with 1,000-step episodes and are reset when an episode ends (terminated
or truncated), measured on the state the step produced, before the reset; the bare
ant engine (`rigid.step_batch`, no env, no resets) runs every trajectory to the end.
Actions are uniform over the action space ([-1, 1]; the `mjcf_*` envs' ctrlrange), a
fresh draw every step.

Reported per run (JSON, one line per run, then a summary):
  nonfinite:  steps at which any member's state, observation or reward was not finite;
  deepest_m:  the deepest any collider that collides with a plane went into it
              (`diagnostics.plane_penetration`: capsule end spheres, box corners, spheres);
  members_deeper_than_5cm: members that ever went deeper than 5 cm;
  below_floor_at_end: members ending with such a collider deeper than 5 cm;
  scene_steps, seconds.
Target: 0 non-finite, deepest < 0.05 m, always.

    python benchmarks/rigid_soak.py                       # everything, full size
    python benchmarks/rigid_soak.py --only ant,engine --steps 20000 --total 1000000
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from gambol import envs
from gambol.envs.rigid_env import load_asset
from gambol.envs.wrappers import where_members
from gambol.physics import rigid as R
from gambol.physics.rigid import diagnostics

sys.path.insert(0, __import__('os').path.dirname(__file__))
from _common import machine_info  # noqa: E402

ENVS = ('ant', 'halfcheetah', 'humanoid', 'grasp', 'fetch',
        'mjcf_ant', 'mjcf_halfcheetah', 'mjcf_hopper', 'mjcf_walker2d', 'mjcf_humanoid', 'mjcf_swimmer',
        'mjcf_reacher', 'mjcf_inverted_pendulum', 'mjcf_inverted_double_pendulum')
CHUNK = 1000          # steps per jitted scan


def _finite(tree):
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def env_runner(name, batch):
  """A jitted `chunk(state, key) -> (state, deepest [batch], nonfinite steps, ended)` of CHUNK steps."""
  env = envs.create(name, episode_length=1000, batch_size=batch, auto_reset=False)
  sys_ = env.unwrapped.sys
  low, high = env.unwrapped.action_spec.low, env.unwrapped.action_spec.high
  depth = jax.vmap(lambda qp: diagnostics.plane_penetration(sys_, qp))

  def one(carry, key):
    state, deepest, bad = carry
    k_act, k_reset = jax.random.split(key)
    action = jax.random.uniform(k_act, (batch, env.action_size), minval=low, maxval=high)
    nxt = env.step(state, action)
    deepest = jnp.maximum(deepest, depth(nxt.pipeline_state))
    bad = bad + (~_finite((nxt.pipeline_state, nxt.obs, nxt.reward))).astype(jnp.int32)
    done = nxt.done > 0
    nxt = jax.lax.cond(jnp.any(done), lambda: where_members(done, env.reset(k_reset), nxt), lambda: nxt)
    return (nxt, deepest, bad), None

  @jax.jit
  def chunk(state, key):
    init = (state, jnp.zeros(batch), jnp.zeros((), jnp.int32))
    (state, deepest, bad), _ = jax.lax.scan(one, init, jax.random.split(key, CHUNK))
    return state, deepest, bad, depth(state.pipeline_state)

  return jax.jit(env.reset), chunk


def engine_runner(batch):
  """The bare ant engine: `rigid.step_batch` with random actions, no resets."""
  sys_ = load_asset('ant')
  depth = jax.vmap(lambda qp: diagnostics.plane_penetration(sys_, qp))

  def one(carry, key):
    qp, deepest, bad = carry
    qp = R.step_batch(sys_, qp, jax.random.uniform(key, (batch, sys_.action_size), minval=-1.0, maxval=1.0))
    return (qp, jnp.maximum(deepest, depth(qp)), bad + (~_finite(qp)).astype(jnp.int32)), None

  @jax.jit
  def chunk(qp, key):
    (qp, deepest, bad), _ = jax.lax.scan(one, (qp, jnp.zeros(batch), jnp.zeros((), jnp.int32)),
                                         jax.random.split(key, CHUNK))
    return qp, deepest, bad, depth(qp)

  def reset(key):
    del key
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,) + x.shape), R.default_qp(sys_))

  return reset, chunk


def soak(target, batch, steps, seed=0):
  reset, chunk = engine_runner(batch) if target == 'engine' else env_runner(target, batch)
  key = jax.random.PRNGKey(seed)
  state = reset(key)
  deepest, bad = np.zeros(batch), 0
  start = time.perf_counter()
  chunks = -(-steps // CHUNK)          # at least `steps` steps, in whole chunks
  for k in jax.random.split(key, chunks):
    state, d, b, end = chunk(state, k)
    deepest = np.maximum(deepest, np.asarray(d))
    bad += int(b)
  seconds = time.perf_counter() - start
  return {'target': target, 'members': batch, 'steps_each': chunks * CHUNK,
          'scene_steps': batch * chunks * CHUNK, 'nonfinite': bad,
          'deepest_m': round(float(deepest.max()), 4), 'mean_deepest_m': round(float(deepest.mean()), 4),
          'members_deeper_than_5cm': int((deepest > 0.05).sum()),
          'below_floor_at_end': int((np.asarray(end) > 0.05).sum()), 'seconds': round(seconds, 1)}


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--only', default=','.join(ENVS + ('engine',)), help='comma list of envs and/or "engine"')
  p.add_argument('--seeds', type=int, default=64)
  p.add_argument('--steps', type=int, default=100_000)
  p.add_argument('--batch', type=int, default=1024)
  p.add_argument('--total', type=int, default=10_000_000)
  args = p.parse_args()
  print(json.dumps(machine_info(jax=jax.__version__, backend=jax.default_backend())), flush=True)
  results = []
  for target in args.only.split(','):
    for batch, steps in ((args.seeds, args.steps), (args.batch, -(-args.total // args.batch))):
      r = soak(target, batch, steps)
      results.append(r)
      print(json.dumps(r), flush=True)
  ok = all(r['nonfinite'] == 0 and r['deepest_m'] < 0.05 for r in results)
  print(json.dumps({'summary': {'runs': len(results), 'scene_steps': sum(r['scene_steps'] for r in results),
                                'nonfinite': sum(r['nonfinite'] for r in results),
                                'deepest_m': max(r['deepest_m'] for r in results), 'target_met': ok}}))
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
