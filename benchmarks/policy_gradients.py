"""The analytic policy gradient through the rigid envs against the horizon
(`gambol.training.policy_gradients`): for each env, dtype and horizon, the norm of
the batch's gradient of the summed reward of a linear tanh policy (weights
0.01 N(0, 1)) after random warm-up steps, its variance across members, the median
member norm and the fraction of members whose gradient is not finite.

One JSON line for the machine, then one per (env, dtype, horizon):

    python benchmarks/policy_gradients.py                          # ant, halfcheetah, humanoid
    python benchmarks/policy_gradients.py --envs ant --horizons 1,4 --batch 4 --warmup 10
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_info  # noqa: E402

from gambol.training.policy_gradients import policy_gradient_stats  # noqa: E402


def _ints(text: str) -> list[int]:
  return [int(x) for x in text.split(',') if x]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--envs', default='ant,halfcheetah,humanoid')
  parser.add_argument('--horizons', default='1,4,16,64,128', type=_ints)
  parser.add_argument('--dtypes', default='float32,float64')
  parser.add_argument('--batch', default=16, type=int, help='members (scenes)')
  parser.add_argument('--warmup', default=50, type=int, help='random-action steps before the window')
  parser.add_argument('--seed', default=0, type=int)
  args = parser.parse_args(argv)
  print(json.dumps(machine_info(jax=jax.__version__, backend=jax.default_backend())), flush=True)
  for env in args.envs.split(','):
    for dtype in args.dtypes.split(','):
      for row in policy_gradient_stats(env, batch_size=args.batch, horizons=args.horizons,
                                       dtype=dtype, seed=args.seed, warmup_steps=args.warmup):
        print(json.dumps(row), flush=True)


if __name__ == '__main__':
  main()
