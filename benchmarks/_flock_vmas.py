"""VMAS 'flocking' throughput on CPU; run by benchmarks/flocking.py in VMAS's venv (torch + vmas only).

Usage: python _flock_vmas.py NUM_ENVS STEPS   -> one `RESULT {json}` line
`vmas.make_env("flocking", num_envs=NUM_ENVS, device="cpu", continuous_actions=True)` with the
scenario's default agent count; uniform random actions (`env.get_random_action`, drawn inside the
timed loop, as a policy would be called); 10 untimed warm-up steps, then the median of 3 timed
blocks of STEPS steps. agent_steps_per_s = NUM_ENVS * agents * STEPS / median block seconds.
Timed with 1 torch thread and then torch's default (one per core); the faster counts. On a loaded
2-core machine the default threads can stall badly (a 1024-env step went from ~35 ms to ~800 ms):
when the default's warm-up is > 3x slower per step than 1 thread, its timed blocks are skipped.
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

  default_threads = torch.get_num_threads()
  per_threads = {}
  for threads in sorted({1, default_threads}):
    torch.set_num_threads(threads)
    warm = block(10) / 10
    best = min((statistics.median(v) / steps for v in per_threads.values()), default=None)
    if best is not None and warm > 3 * best:
      per_threads[threads] = None
      continue
    per_threads[threads] = [block(steps) for _ in range(3)]
  threads, times = min(((t, v) for t, v in per_threads.items() if v), key=lambda tv: statistics.median(tv[1]))
  med = statistics.median(times)
  agents = len(env.agents)
  print("RESULT " + json.dumps(dict(
      lib="vmas", scenario="flocking", num_envs=num_envs, agents=agents, steps_per_repeat=steps,
      obs_size=int(obs[0].shape[-1]), torch=torch.__version__, vmas=metadata.version("vmas"),
      torch_threads=threads, repeat_times_s_by_threads={str(k): v for k, v in per_threads.items()},
      repeat_times_s=times,
      env_steps_per_s=num_envs * steps / med, agent_steps_per_s=num_envs * agents * steps / med,
      timing="python loop of env.step with random actions; median of 3 blocks")), flush=True)


if __name__ == "__main__":
  main()
