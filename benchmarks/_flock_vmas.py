"""VMAS 'flocking' throughput on CPU; run by benchmarks/flocking.py in VMAS's venv (torch + vmas only).

Usage: python _flock_vmas.py NUM_ENVS STEPS   -> one `RESULT {json}` line
`vmas.make_env("flocking", num_envs=NUM_ENVS, device="cpu", continuous_actions=True)` with the
scenario's default agent count; uniform random actions (`env.get_random_action`, drawn inside the
timed loop, as a policy would be called); 10 untimed warm-up steps, then the median of 3 timed
blocks of STEPS steps. agent_steps_per_s = NUM_ENVS * agents * STEPS / median block seconds.
"""
import json
import statistics
import sys
import time

import torch
import vmas
from importlib import metadata


def main():
  num_envs, steps = int(sys.argv[1]), int(sys.argv[2])
  torch.manual_seed(0)
  env = vmas.make_env("flocking", num_envs=num_envs, device="cpu", continuous_actions=True, seed=0)
  obs = env.reset()

  def block(k):
    t0 = time.perf_counter()
    for _ in range(k):
      env.step([env.get_random_action(agent) for agent in env.agents])
    return time.perf_counter() - t0

  block(10)
  times = [block(steps) for _ in range(3)]
  med = statistics.median(times)
  agents = len(env.agents)
  print("RESULT " + json.dumps(dict(
      lib="vmas", scenario="flocking", num_envs=num_envs, agents=agents, steps_per_repeat=steps,
      obs_size=int(obs[0].shape[-1]), torch=torch.__version__, vmas=metadata.version("vmas"),
      torch_threads=torch.get_num_threads(), repeat_times_s=times,
      env_steps_per_s=num_envs * steps / med, agent_steps_per_s=num_envs * agents * steps / med,
      timing="python loop of env.step with random actions; median of 3 blocks")), flush=True)


if __name__ == "__main__":
  main()
