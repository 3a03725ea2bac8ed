"""What `gambol train --env E --algo A` reaches with no `--set`: the defaults table
(`gambol.training.defaults`) for every registered env with PPO and SAC where the
action space suits (SAC: single-agent; both: at least one action).

For each pair and seed: the untrained policy's evaluation return, the final one,
and the wall time (compilation included), at the table's budget (or `--timesteps`
for pairs without an entry). One JSON line per pair, then a markdown table for the
README.

    python benchmarks/defaults.py                                  # everything (hours on 2 cores)
    python benchmarks/defaults.py --envs pendulum,point_reacher --seeds 0,1,2
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

from gambol import envs  # noqa: E402
from gambol.training import defaults, ppo, sac  # noqa: E402

TRAINERS = {"ppo": ppo, "sac": sac}


def suits(env, algo: str) -> bool:
    """PPO learns any env with actions; SAC single-agent ones."""
    sizes = env.action_size.values() if env.is_multi_agent else [env.action_size]
    return min(sizes) > 0 and (algo == "ppo" or not env.is_multi_agent)


def run_pair(name: str, algo: str, seeds, timesteps: int | None) -> dict:
    budget = defaults.budget(name, algo) or timesteps
    first, last, seconds = [], [], []
    for seed in seeds:
        history = []
        start = time.perf_counter()
        _, _, metrics = TRAINERS[algo].train(
            name, budget, seed=seed, progress_fn=lambda n, m: history.append(m),
            **defaults.settings(name, algo))
        seconds.append(time.perf_counter() - start)
        reward = lambda m: sum(v for k, v in m.items() if k.startswith("eval/episode_reward"))  # noqa: E731
        first.append(reward(history[0]))
        last.append(reward(metrics))
    return dict(env=name, algo=algo, table=(name, algo) in defaults.TABLE, timesteps=budget,
                seeds=list(seeds), untrained=float(np.mean(first)), final=float(np.mean(last)),
                final_per_seed=[round(x, 1) for x in last], seconds=float(np.mean(seconds)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default=",".join(envs.registered()), help="comma-separated names")
    parser.add_argument("--algos", default="ppo,sac")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--timesteps", type=int, default=1_000_000,
                        help="budget of the pairs without a table entry")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(json.dumps(machine_info(benchmark="defaults")), flush=True)
    rows = []
    for name in args.envs.split(","):
        env = envs.make(name)
        for algo in args.algos.split(","):
            if not suits(env, algo):
                continue
            rows.append(run_pair(name, algo, seeds, args.timesteps))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| env | algo | settings | env steps | untrained | final (mean of seeds) | per seed | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['env']} | {r['algo']} | {'table' if r['table'] else 'trainer defaults'} | "
              f"{r['timesteps']:,} | {r['untrained']:.0f} | {r['final']:.0f} | "
              f"{', '.join(f'{x:.0f}' for x in r['final_per_seed'])} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main()
