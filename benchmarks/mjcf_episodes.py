"""Random-policy episodes of the `mjcf_*` envs next to gymnasium's own MuJoCo envs
(the same XML, v5 semantics): episode length and return under uniform random
controls over the ctrlrange, a fresh draw every step, episodes of at most
--max-steps steps.

One JSON line per env: gambol's and MuJoCo's median / quartiles of length and
return over --episodes episodes each, and the ratio of the median lengths.

    python benchmarks/mjcf_episodes.py                         # every mjcf env, 32 episodes
    python benchmarks/mjcf_episodes.py --only mjcf_ant --episodes 64
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

sys.path.insert(0, __import__('os').path.dirname(__file__))
from _common import machine_info  # noqa: E402

GYMNASIUM_IDS = {'mjcf_ant': 'Ant-v5', 'mjcf_halfcheetah': 'HalfCheetah-v5', 'mjcf_hopper': 'Hopper-v5',
                 'mjcf_walker2d': 'Walker2d-v5', 'mjcf_humanoid': 'Humanoid-v5', 'mjcf_swimmer': 'Swimmer-v5',
                 'mjcf_reacher': 'Reacher-v5', 'mjcf_inverted_pendulum': 'InvertedPendulum-v5',
                 'mjcf_inverted_double_pendulum': 'InvertedDoublePendulum-v5'}
CHUNK = 50


def gambol_episodes(name, episodes, max_steps, seed=0):
  """(lengths [episodes], returns [episodes]) of gambol's env under random controls."""
  env = envs.create(name, episode_length=max_steps, batch_size=episodes, auto_reset=False)
  low, high = env.unwrapped.action_spec.low, env.unwrapped.action_spec.high

  def body(carry, key):
    state, ret, length = carry
    action = jax.random.uniform(key, (episodes, env.action_size), minval=low, maxval=high)
    live = state.done == 0
    state = env.step(state, action)
    return (state, ret + jnp.where(live, state.reward, 0.0), length + live), None

  chunk = jax.jit(lambda carry, key: jax.lax.scan(body, carry, jax.random.split(key, CHUNK))[0])
  state = jax.jit(env.reset)(jax.random.PRNGKey(seed))
  carry = (state, jnp.zeros(episodes), jnp.zeros(episodes, jnp.int32))
  key = jax.random.PRNGKey(seed + 1)
  for _ in range(0, max_steps, CHUNK):
    key, sub = jax.random.split(key)
    carry = chunk(carry, sub)
    if bool(jnp.all(carry[0].done > 0)):
      break
  return np.asarray(carry[2]), np.asarray(carry[1])


def mujoco_episodes(name, episodes, max_steps, seed=0):
  """The same for gymnasium's MuJoCo env of `name` (one process, sequential)."""
  import gymnasium
  env = gymnasium.make(GYMNASIUM_IDS[name], max_episode_steps=max_steps)
  env.action_space.seed(seed)
  lengths, returns = [], []
  for e in range(episodes):
    env.reset(seed=seed + e)
    total, n, over = 0.0, 0, False
    while not over:
      _, r, term, trunc, _ = env.step(env.action_space.sample())
      total, n, over = total + r, n + 1, term or trunc
    lengths.append(n)
    returns.append(total)
  return np.array(lengths), np.array(returns)


def _summary(x):
  q1, med, q3 = np.percentile(x, [25, 50, 75])
  return {'median': float(med), 'q1': float(q1), 'q3': float(q3)}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--only', default=','.join(GYMNASIUM_IDS))
  p.add_argument('--episodes', type=int, default=32)
  p.add_argument('--max-steps', type=int, default=1000)
  p.add_argument('--no-mujoco', action='store_true')
  a = p.parse_args(argv)
  print(json.dumps(machine_info(episodes=a.episodes, max_steps=a.max_steps)))
  for name in a.only.split(','):
    t = time.time()
    lengths, returns = gambol_episodes(name, a.episodes, a.max_steps)
    line = {'env': name, 'gambol_length': _summary(lengths), 'gambol_return': _summary(returns),
            'gambol_seconds': round(time.time() - t, 1)}
    if not a.no_mujoco:
      m_lengths, m_returns = mujoco_episodes(name, a.episodes, a.max_steps)
      line.update(mujoco_id=GYMNASIUM_IDS[name], mujoco_length=_summary(m_lengths),
                  mujoco_return=_summary(m_returns),
                  length_ratio=float(np.median(lengths) / np.median(m_lengths)))
    print(json.dumps(line), flush=True)


if __name__ == '__main__':
  main()
