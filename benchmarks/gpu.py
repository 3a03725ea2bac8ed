"""One command for a machine with a GPU: gambol's headline workloads at GPU sizes, in under 8 minutes.

  python benchmarks/gpu.py [--out DIR] [--budget-s 270] [--ppo-wall-s 150] [--only rigid,boids,flock,lj,ppo] [--no-peers] [--tiny]

Every measurement runs in its own process on the default jax backend (the GPU when there is one),
sizes from small to large; a size is skipped when the time left in the budget is less than what
the previous size took times the growth factor, so the whole run ends inside `--budget-s` plus one
measurement. What it measures:

  rigid   env steps/s (env.step: physics, observation, reward, done) of `ant` and `humanoid` at
          batch 1,024 / 4,096 / 16,384 / 65,536, and the compile time   [rigid_envs.measure_gambol]
  boids   ms per `boids` env step (neighbour lists, host regrowth on overflow) at 10,000 /
          100,000 / 1,000,000 boids                                       [flocking.worker_boids]
  flock   agent-steps/s of the multi-agent `flock` (every boid an agent, random actions):
          1 × 10,000, 10 × 10,000 and 100 × 10,000 agents                  [flocking.worker_flock]
  lj      Lennard-Jones NVE (the JAX MD paper's settings), ms/step at 10,000 / 100,000 /
          1,000,000 particles                                              [lj_nve.worker]
  ppo     PPO on `ant` with benchmarks/training.py's PPO_ANT settings until an evaluation
          return of --ppo-target (default 3,000), --ppo-steps env steps or --ppo-wall-s seconds:
          wall time to the target, the first iteration's time (compile included), env steps/s
          inside training. The sweeps above stop starting sizes after --budget-s, so the whole
          run takes about budget + PPO wall + 2 minutes of process starts: under 8 minutes

Peers in the same run, where their venvs already exist under $ANCHORS (nothing is downloaded: a
GPU machine may have no network): brax 0.14.2's ant on its spring, positional and mjx backends at
the rigid batches (`_rigid_brax.py`), and jax-md 0.2.29 (OrderedSparse) at the Lennard-Jones sizes
(`lj_nve.py --worker`). Ratios are gambol's speed over the peer's.

Output: one JSON line per measurement on stdout and in OUT/gpu.jsonl (each with the device, jax
version and load), then OUT/gpu.md, a table with the machine named, also printed to stderr.
`--tiny` runs every workload at CPU sizes (batch 4, 200 boids, 216 particles, one PPO iteration)
on the CPU; tests/benchmarks/test_gpu_benchmark.py runs it so that the script does not rot.

On the lent GPU machine (no network; jax, flax, optax, chex, orbax and matplotlib installed there),
the missing pure-Python packages travel as wheels: `scripts/gpu_wheels.sh` downloads them into
.whl/ here (about 9 MB), and the device command is
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site &&
  python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . && python3 benchmarks/gpu.py --out $OUT
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

from _common import DEFAULT_ANCHORS, jsonl_emitter, machine_info, peer_python

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

# (workload, sizes at GPU scale, sizes with --tiny)
SIZES = {
    'rigid': ([1024, 4096, 16384, 65536], [4]),
    'boids': ([10_000, 100_000, 1_000_000], [200]),
    'flock': ([(1, 10_000), (10, 10_000), (100, 10_000)], [(2, 8)]),
    'lj': ([10_000, 100_000, 1_000_000], [216]),
}
RIGID_ENVS = ('ant', 'humanoid')
LJ_STEPS = {216: 20, 10_000: 200, 100_000: 100, 1_000_000: 20}
GROWTH = 1.5          # a size may take up to this much longer than the previous one (per unit of work)


# -- workers (one per process) -----------------------------------------------------------------

def worker_rigid(env, batch, tiny):
  from rigid_envs import measure_gambol
  steps = 2 if tiny else 20
  return measure_gambol(env, batch, steps, 1 if tiny else 3)


class _Stop(Exception):
  """Raised by the progress hook to end a PPO run at its target or its wall-time cap."""


def worker_ppo(target, max_steps, wall_cap_s, tiny):
  import jax
  from gambol.training import ppo
  from training import PPO_ANT
  settings = dict(PPO_ANT)
  if tiny:
    settings.update(num_envs=8, unroll_length=4, num_minibatches=2, update_epochs=1,
                    episode_length=20, policy_hidden=(8,), value_hidden=(8,))
    max_steps = 2 * 8 * 4
  progress, t0 = [], time.perf_counter()

  def record(steps, metrics):
    progress.append([int(steps), time.perf_counter() - t0, float(metrics['eval/episode_reward'])])
    if steps > 0 and (progress[-1][2] >= target or progress[-1][1] > wall_cap_s):
      raise _Stop

  try:
    ppo.train('ant', max_steps, seed=0, progress_fn=record, num_evals=2 if tiny else 21, **settings)
  except _Stop:
    pass
  reached = next((p for p in progress if p[0] > 0 and p[2] >= target), None)
  steps_per_s = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in zip(progress[1:], progress[2:])]
  return dict(env='ant', settings={k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
              num_timesteps=max_steps, target=target, wall_cap_s=wall_cap_s, progress=progress,
              final_reward=progress[-1][2] if progress else None, wall_s=time.perf_counter() - t0,
              wall_to_target_s=reached[1] if reached else None,
              steps_to_target=reached[0] if reached else None,
              # the first iteration's wall (compile + one iteration + an evaluation)
              first_iteration_s=progress[1][1] - progress[0][1] if len(progress) > 1 else None,
              # env steps/s inside training, evaluations included, after the first iteration
              training_steps_per_s=statistics.median(steps_per_s) if steps_per_s else None,
              backend=jax.default_backend())


def run_worker(kind, args):
  import jax
  if kind == 'rigid':
    out = worker_rigid(args[0], int(args[1]), args[2] == 'tiny')
  elif kind == 'boids':
    from flocking import worker_boids
    out = worker_boids(int(args[0]), 'env', int(args[1]))
  elif kind == 'flock':
    from flocking import worker_flock
    out = worker_flock(int(args[0]), int(args[1]), int(args[2]))
  elif kind == 'lj':
    from lj_nve import worker
    out = worker('gambol', int(args[0]), int(args[1]), 'Dense')
  elif kind == 'ppo':
    out = worker_ppo(float(args[0]), int(args[1]), float(args[2]), args[3] == 'tiny')
  else:
    raise ValueError(f'worker: unknown kind {kind!r}')
  out.update(workload=kind, device=str(jax.devices()[0].device_kind), backend=jax.default_backend(),
             jax=jax.__version__)
  return out


# -- driver ------------------------------------------------------------------------------------

def measure(cmd, timeout, env):
  """Run one worker process; its last `RESULT {json}` line with the wall time, or an error dict."""
  t0 = time.perf_counter()
  try:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE)
  except subprocess.TimeoutExpired:
    return dict(error=f'timeout after {timeout:.0f} s'), time.perf_counter() - t0
  lines = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
  wall = time.perf_counter() - t0
  if p.returncode != 0 or not lines:
    return dict(error=f'rc={p.returncode}', stderr_tail=p.stderr[-3000:]), wall
  out = json.loads(lines[-1][len('RESULT '):])
  out['process_wall_s'] = wall
  return out, wall


class Budget:
  """Seconds left of the run, and whether a measurement that grew from `last` still fits."""

  def __init__(self, seconds):
    self.end = time.perf_counter() + seconds

  def left(self):
    return self.end - time.perf_counter()

  def fits(self, last_wall, growth):
    return last_wall is None or last_wall * growth < self.left()


def plan(only, tiny):
  """[(workload, label dict, worker args, peer commands)] in the order they run."""
  pick = 1 if tiny else 0
  tag = 'tiny' if tiny else 'full'
  out = []
  if 'rigid' in only:
    for env in (RIGID_ENVS[:1] if tiny else RIGID_ENVS):
      for batch in SIZES['rigid'][pick]:
        out.append(('rigid', dict(env=env, batch=batch), [env, str(batch), tag]))
  if 'boids' in only:
    for n in SIZES['boids'][pick]:
      out.append(('boids', dict(N=n), [str(n), '5' if tiny else '20']))
  if 'flock' in only:
    for b, a in SIZES['flock'][pick]:
      out.append(('flock', dict(batch=b, agents=a), [str(b), str(a), '3' if tiny else '20']))
  if 'lj' in only:
    for n in SIZES['lj'][pick]:
      out.append(('lj', dict(N=n), [str(n), str(LJ_STEPS[n])]))
  return out


def peer_runs(workload, label, anchors, tiny):
  """[(peer name, command)] for the peers of one measurement whose venvs exist (never created)."""
  runs = []
  if workload == 'rigid' and label['env'] == 'ant':
    py = peer_python(anchors, 'brax', create=False)
    if py:
      steps, repeats = ('2', '1') if tiny else ('20', '3')
      for backend in ('spring', 'positional', 'mjx'):
        runs.append((f'brax-{backend}', [py, str(HERE / '_rigid_brax.py'), backend, str(label['batch']),
                                         steps, repeats, 'env', 'native', 'ant']))
  if workload == 'lj':
    py = peer_python(anchors, 'jaxmd', create=False)
    if py:
      runs.append(('jaxmd', [py, str(HERE / 'lj_nve.py'), '--worker', 'jaxmd', str(label['N']),
                             str(LJ_STEPS[label['N']]), 'OrderedSparse']))
  return runs


def speed(rec):
  """The figure a ratio is taken of (larger is faster)."""
  for key in ('env_steps_per_s', 'agent_steps_per_s', 'particle_steps_per_s'):
    if rec.get(key):
      return rec[key]
  if rec.get('ms_per_step'):
    return 1e3 / rec['ms_per_step']
  return None


def table(records, machine):
  lines = [f"# gambol on {machine.get('device')} ({machine['date']}, jax {machine.get('jax')})", '',
           '| workload | size | gambol | compile s | peer | ratio |', '|---|---|---|---|---|---|']
  for r in records:
    if r.get('peer') or r['workload'] == 'ppo':
      continue
    size = ', '.join(f'{k} {v:,}' if isinstance(v, int) else f'{k} {v}' for k, v in r['label'].items())
    value = r.get('env_steps_per_s') or r.get('agent_steps_per_s')
    figure = f'{value:,.0f} steps/s' if value else (f"{r['ms_per_step']:.3g} ms/step" if r.get('ms_per_step')
                                                    else r.get('error', '?'))
    peers = [p for p in records if p.get('peer') and p['workload'] == r['workload'] and p['label'] == r['label']]
    peer = '; '.join(f"{p['peer']} {speed(p):,.0f}/s" if speed(p) else f"{p['peer']} {p.get('error')}"
                     for p in peers) or '—'
    ratios = '; '.join(f"{speed(r) / speed(p):.2f}×" for p in peers if speed(p) and speed(r)) or '—'
    compile_s = r.get('compile_s') or r.get('first_call_s')
    lines.append(f"| {r['workload']} | {size} | {figure} | {compile_s:.2f} |" if compile_s else
                 f"| {r['workload']} | {size} | {figure} | — |")
    lines[-1] += f' {peer} | {ratios} |'
  for r in records:
    if r['workload'] == 'ppo' and 'error' in r:
      lines += ['', f"PPO on ant: {r['error']}"]
    elif r['workload'] == 'ppo':
      reached = (f"reached at {r['wall_to_target_s']:.0f} s ({r['steps_to_target']:,} env steps)"
                 if r.get('wall_to_target_s') else f"not reached (final {r.get('final_reward'):.0f})")
      lines += ['', f"PPO on ant to a return of {r['target']:,.0f}: {reached}; {r['wall_s']:.0f} s in all, "
                    f"first iteration {r.get('first_iteration_s') or 0:.1f} s, "
                    + (f"{r['training_steps_per_s']:,.0f} env steps/s in training" if r.get('training_steps_per_s')
                     else 'one iteration only')]
  return '\n'.join(lines) + '\n'


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--out', default=str(ROOT / 'outputs' / 'bench' / 'gpu'))
  ap.add_argument('--budget-s', type=float, default=270.0, help='stop starting measurements after this')
  ap.add_argument('--only', default='rigid,boids,flock,lj,ppo')
  ap.add_argument('--tiny', action='store_true', help='CPU sizes, for the tests')
  ap.add_argument('--ppo-target', type=float, default=3000.0)
  ap.add_argument('--ppo-steps', type=int, default=5_000_000)
  ap.add_argument('--ppo-wall-s', type=float, default=150.0, help='end the PPO run after this')
  ap.add_argument('--anchors', default=DEFAULT_ANCHORS)
  ap.add_argument('--no-peers', action='store_true', help='gambol alone, even where peer venvs exist')
  ap.add_argument('--worker', nargs='+', help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args.worker:
    print('RESULT ' + json.dumps(run_worker(args.worker[0], args.worker[1:])), flush=True)
    return
  only = set(args.only.split(','))
  unknown = only - {'rigid', 'boids', 'flock', 'lj', 'ppo'}
  if unknown:
    ap.error(f'--only: unknown workload(s) {sorted(unknown)}; known: rigid, boids, flock, lj, ppo')
  os.makedirs(args.out, exist_ok=True)
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  if args.tiny:
    env['JAX_PLATFORMS'] = 'cpu'
  budget = Budget(args.budget_s)
  me = [sys.executable, str(HERE / 'gpu.py'), '--worker']
  probe, _ = measure([sys.executable, '-c', 'import jax, json; d = jax.devices()[0]; '
                      'print("RESULT " + json.dumps(dict(device=d.device_kind, backend=jax.default_backend(), '
                      'jax=jax.__version__)))'], 120, env)
  machine = machine_info(**probe)
  records, last = [], {}
  jsonl = open(os.path.join(args.out, 'gpu.jsonl'), 'w')
  emit = jsonl_emitter(jsonl, records)

  emit(dict(workload='machine', **machine))
  for workload, label, wargs in plan(only, args.tiny):
    key = (workload, label.get('env'))
    if not budget.fits(last.get(key), GROWTH * 4) or budget.left() < 0:
      emit(dict(workload=workload, label=label, skipped='budget'))
      continue
    rec, wall = measure(me + [workload] + wargs, max(60.0, budget.left() + 60), env)
    last[key] = wall
    emit(dict(rec, workload=workload, label=label))
    for peer, cmd in ([] if args.no_peers else peer_runs(workload, label, args.anchors, args.tiny)):
      if budget.left() < 0:
        break
      prec, _ = measure(cmd, max(60.0, budget.left() + 60), env)
      emit(dict(prec, workload=workload, label=label, peer=peer))
  if 'ppo' in only:
    rec, _ = measure(me + ['ppo', str(args.ppo_target), str(args.ppo_steps), str(args.ppo_wall_s),
                           'tiny' if args.tiny else 'full'], args.ppo_wall_s + 120, env)
    emit(dict(rec, workload='ppo', label={}))
  jsonl.close()
  text = table(records[1:], machine)
  with open(os.path.join(args.out, 'gpu.md'), 'w') as f:
    f.write(text)
  print(text, file=sys.stderr)


if __name__ == '__main__':
  main()
