"""stable-baselines3's view of a gambol env: `envs.to_sb3_vecenv` (one compile, one device
call per step for the batch) against SB3's own `DummyVecEnv` of single gymnasium adapters
(one compile per copy, one device call per copy per step), in the same run.

Env steps per second of `venv.step(random actions)` after a warm-up, and the seconds from
construction to the first step (compilation). Needs the sb3 extra (`.venv-sb3`):

    .venv-sb3/bin/python benchmarks/sb3_vecenv.py --env pendulum --num-envs 16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_info  # noqa: E402

from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from gambol import envs  # noqa: E402


def measure(make, steps: int, seed: int = 0) -> dict:
    start = time.perf_counter()
    venv = make()
    venv.seed(seed)
    venv.reset()
    rng = np.random.default_rng(seed)
    shape = (venv.num_envs,) + venv.action_space.shape
    venv.step(rng.uniform(-1, 1, shape).astype(np.float32))
    first = time.perf_counter() - start
    actions = rng.uniform(-1, 1, (steps,) + shape).astype(np.float32)
    start = time.perf_counter()
    for a in actions:
        venv.step(a)
    seconds = time.perf_counter() - start
    return {"first_step_seconds": first, "steps_per_second": steps * venv.num_envs / seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="pendulum")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=500, help="vector steps timed")
    args = parser.parse_args()
    print(json.dumps(machine_info(benchmark="sb3_vecenv")), flush=True)
    ours = measure(lambda: envs.to_sb3_vecenv(args.env, args.num_envs), args.steps)
    dummy = measure(lambda: DummyVecEnv([lambda: envs.to_gymnasium(args.env)] * args.num_envs),
                    args.steps)
    print(json.dumps({"env": args.env, "num_envs": args.num_envs, "to_sb3_vecenv": ours,
                      "DummyVecEnv_of_to_gymnasium": dummy,
                      "speedup": ours["steps_per_second"] / dummy["steps_per_second"],
                      "first_step_ratio": dummy["first_step_seconds"] / ours["first_step_seconds"]}),
          flush=True)


if __name__ == "__main__":
    main()
