"""Flocking benchmark: gambol's `boids` and `flock` envs vs all pairs, jax-md and VMAS, side by side.

What is measured (float32, CPU, one process per measurement, figures of one run compared):
  boids      ms per step of `jax.jit(env.step)(state)` for `make("boids", num_boids=N)` (JAX MD
             notebook constants, no obstacles or predators, box 800 sqrt(N/200), Dense neighbour
             list: cutoff 45, skin 10, 48 neighbours per boid), called once per step with
             block_until_ready after every step. Also timed:
    core     the same physics without the env's metrics/observation: jit of
             (flocking.forces, flocking.energy_step, nbrs.update), the like-for-like against jax-md.
    allpairs `make("boids", neighbor_list=False)` (every other boid; O(N^2)); only N <= 10,000.
    jaxmd    the same energy model written with jax_md.space.periodic, jax_md.partition.neighbor_list
             (Dense, padded to gambol's 48 neighbours) and jax.grad; a jitted step that includes
             nbrs.update (benchmarks/_flock_jaxmd.py, jax-md 0.2.29 in its own venv).
  check      N=200, 20 steps from one reset: max |position difference| (minimum image) of the
             neighbour-list env vs the all-pairs env (target < 1e-3), and vs the jax-md version.
  flock      agent-steps/s (batch x agents x steps / s) of `create("flock", num_boids=A,
             batch_size=B, episode_length=1000)` stepped with uniform random actions in [-1, 1]
             (a pool of 4 pre-drawn action arrays), one jitted call per step, block_until_ready.
  vmas       VMAS 1.5.2 'flocking' (4 agents, torch CPU) at num_envs 32 and 1024, random actions
             (benchmarks/_flock_vmas.py in its own venv).
Every figure: warm-up outside timing (compile, first steps; a gambol env whose lists overflow in the
warm-up is grown with `grow_neighbor_lists` and warmed up again), then the median of 3 repeats.
Peers live in venvs under $ANCHORS (default ${TMPDIR:-/tmp}/anchors), created if missing:
  jaxmd: pip install jax-md==0.2.29;  vmas: pip install torch==2.13.0+cpu, then vmas==1.5.2.

Run (from the repository root):
  .venv/bin/python benchmarks/flocking.py                 # N = 1,000, 10,000, 100,000 + peers
  .venv/bin/python benchmarks/flocking.py --quick         # small sizes, ~1 min; peers only if installed
  .venv/bin/python benchmarks/flocking.py --sizes 1000,10000 --no-peers
Output: one JSON object (machine, per-measurement results, ratios, targets), then a short summary.
Ratios > 1 mean gambol is faster. The machine is a shared 2-core VM: figures are noisy (+-30%).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import machine_info, peer_python

HERE = os.path.dirname(os.path.abspath(__file__))
ALLPAIRS_MAX = 10_000
CHECK_N, CHECK_STEPS = 200, 20
WARMUP = 20
MAX_NEIGHBORS = 48          # gambol's default Dense width; the jax-md list is padded to it
VMAS_ENVS = (32, 1024)
INTERACTIVE_MS = 50.0


def steps_for(N, variant, quick):
  """Timed steps per repeat, so that a repeat takes roughly 0.2-2 s."""
  if variant == 'allpairs':
    s = 20 if N <= 1000 else 5 if N <= 3000 else 1
  else:
    s = 100 if N <= 1000 else 20 if N <= 10_000 else 5
  return max(1, s // 4) if quick else s


# ----------------------------------------------------------------------------- gambol workers


def _fast_all_pairs():
  """gambol's `flocking.all_pairs_idx` builds [n, n-1] with a Python double loop (about a minute
  and several GB of Python ints at n = 10,000); swap in a vectorised equal one in this process."""
  import numpy as np
  from gambol.envs import flocking as fl

  def all_pairs_idx(n):
    j = np.arange(max(n - 1, 0))[None, :]
    return (j + (j >= np.arange(n)[:, None])).astype(np.int32)

  assert np.array_equal(all_pairs_idx(7), fl.all_pairs_idx(7))
  fl.all_pairs_idx = all_pairs_idx


def _timed_loop(step, carry, steps):
  import jax
  times = []
  for _ in range(3):
    t0 = time.perf_counter()
    for _ in range(steps):
      carry = jax.block_until_ready(step(carry))
    times.append(time.perf_counter() - t0)
  return carry, times


def worker_boids(N, variant, steps):
  """ms/step of one `boids` variant: 'env' (neighbour list), 'core' or 'allpairs'."""
  import jax
  import jax.numpy as jnp
  import gambol.envs
  from gambol.envs import flocking as fl
  if variant == 'allpairs':
    _fast_all_pairs()
  env = gambol.envs.make('boids', num_boids=N, neighbor_list=variant != 'allpairs')
  state0 = jax.jit(env.reset)(jax.random.PRNGKey(0))
  info = dict(lib='gambol', variant=variant, N=N, box=env.box_size, steps_per_repeat=steps,
              jax=jax.__version__, backend=jax.default_backend(), grown=0,
              timing='jit(step) called per step, block_until_ready each step')

  def make_step(env):
    if variant != 'core':
      return jax.jit(env.step), (lambda s: s), (lambda s: s.pipeline_state.nbrs)
    p, disp, shift = env.params, env.displacement, env.shift

    def core(carry):
      boids, nbrs = carry
      fb, _ = fl.forces(p, disp, boids, nbrs.idx, None)
      boids = fl.energy_step(p, shift, boids, fb, p.speed)
      return boids, nbrs.update(boids.position)
    return jax.jit(core), (lambda s: (s.pipeline_state.boids, s.pipeline_state.nbrs)), (lambda c: c[1])

  for attempt in range(4):        # warm-up outside timing; grow the lists if they overflowed
    step, carry_of, nbrs_of = make_step(env)
    carry = carry_of(state0)
    t0 = time.perf_counter()
    carry = jax.block_until_ready(step(carry))
    info['first_call_s'] = time.perf_counter() - t0
    for _ in range((1 if variant == 'allpairs' else WARMUP) - 1):   # all pairs: nothing to overflow
      carry = jax.block_until_ready(step(carry))
    nbrs = nbrs_of(carry)
    if nbrs is None or not bool(nbrs.did_buffer_overflow):
      break
    env, state0 = gambol.envs.grow_neighbor_lists(env, state0)
    info['grown'] = attempt + 1
  nbrs = nbrs_of(carry)
  rebuilds0 = None if nbrs is None else int(nbrs.rebuilds)
  carry, times = _timed_loop(step, carry, steps)
  nbrs = nbrs_of(carry)
  info['nbr_idx_shape'] = None if nbrs is None else list(nbrs.idx.shape)
  info['overflow'] = None if nbrs is None else bool(nbrs.did_buffer_overflow)
  info['rebuilds_in_timed_steps'] = None if nbrs is None else int(nbrs.rebuilds) - rebuilds0
  info['repeat_times_s'] = times
  info['ms_per_step'] = 1e3 * statistics.median(times) / steps
  theta = carry[0].theta if variant == 'core' else carry.pipeline_state.boids.theta
  info['polarization'] = float(fl.polarization(theta))
  return info


def worker_check(npz_path):
  """N=200: neighbour-list env vs all-pairs env after CHECK_STEPS steps from one reset; saves
  the initial and final state to `npz_path` for the jax-md check."""
  import jax
  import numpy as np
  import gambol.envs
  _fast_all_pairs()
  out = {}
  for nl in (True, False):
    env = gambol.envs.make('boids', num_boids=CHECK_N, neighbor_list=nl)
    s = jax.jit(env.reset)(jax.random.PRNGKey(1))
    init = s.pipeline_state.boids
    step = jax.jit(env.step)
    for _ in range(CHECK_STEPS):
      s = step(s)
    out[nl] = (np.asarray(s.pipeline_state.boids.position), np.asarray(s.pipeline_state.boids.theta),
               float(s.metrics['overflow']))
  L = env.box_size
  np.savez(npz_path, position=np.asarray(init.position), theta=np.asarray(init.theta), box=L,
           final_position=out[True][0], final_theta=out[True][1])
  return dict(N=CHECK_N, steps=CHECK_STEPS, box=L, overflow=out[True][2],
              max_abs_position_diff=min_image_max_diff(out[True][0], out[False][0], L),
              max_abs_theta_diff=float(np.max(np.abs(out[True][1] - out[False][1]))))


def min_image_max_diff(a, b, L):
  import numpy as np
  d = (np.asarray(a) - np.asarray(b) + L / 2) % L - L / 2
  return float(np.max(np.abs(d)))


def worker_flock(B, A, steps):
  """agent-steps/s of the batched multi-agent `flock` env with random actions."""
  import jax
  import jax.numpy as jnp
  import gambol.envs
  env = gambol.envs.create('flock', num_boids=A, batch_size=B, episode_length=1000)
  state = jax.jit(env.reset)(jax.random.PRNGKey(0))
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  pool = [{'boid': jax.random.uniform(k, (B, A, 2), minval=-1.0, maxval=1.0)} for k in keys]
  step = jax.jit(env.step)
  info = dict(lib='gambol', env='flock', batch=B, agents=A, box=env.unwrapped.box_size,
              steps_per_repeat=steps, jax=jax.__version__,
              obs_size=int(state.obs['boid'].shape[-1]),
              timing='jit(step) called per step, block_until_ready each step')
  t0 = time.perf_counter()
  state = jax.block_until_ready(step(state, pool[0]))
  info['first_call_s'] = time.perf_counter() - t0
  for i in range(9):
    state = jax.block_until_ready(step(state, pool[i % 4]))
  times = []
  for _ in range(3):
    t0 = time.perf_counter()
    for i in range(steps):
      state = jax.block_until_ready(step(state, pool[i % 4]))
    times.append(time.perf_counter() - t0)
  med = statistics.median(times)
  info['overflow'] = bool(jnp.any(state.metrics['overflow'] > 0))
  info['repeat_times_s'] = times
  info['ms_per_step'] = 1e3 * med / steps
  info['agent_steps_per_s'] = B * A * steps / med
  return info


# ----------------------------------------------------------------------------- driver


def run_sub(cmd, timeout, label):
  """Run one measurement in a subprocess; its `RESULT {json}` line, or an error dict."""
  t0 = time.perf_counter()
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  print(f'# {label}', file=sys.stderr, flush=True)
  try:
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
  except subprocess.TimeoutExpired:
    return dict(label=label, error=f'timeout after {timeout} s')
  lines = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
  if p.returncode != 0 or not lines:
    return dict(label=label, error=f'rc={p.returncode}', stderr_tail=p.stderr[-3000:])
  out = json.loads(lines[-1][len('RESULT '):])
  out['process_wall_s'] = time.perf_counter() - t0
  return out


def ratio(a, b):
  return a / b if a is not None and b else None


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--sizes', default=None, help='boids N, comma-separated (default 1000,10000,100000)')
  ap.add_argument('--flock', default=None,
                  help='flock BATCHxAGENTS, comma-separated (default 1x10000,32x100,1024x4)')
  ap.add_argument('--quick', action='store_true',
                  help='N=1000, flock 32x100 and 1024x4, fewer steps; peers only if installed (or --peers)')
  ap.add_argument('--peers', action='store_true', help='with --quick: create missing peer venvs too')
  ap.add_argument('--no-peers', action='store_true', help='gambol only')
  ap.add_argument('--jaxmd-format', default='Dense')
  ap.add_argument('--anchors', default=os.environ.get(
      'ANCHORS', os.path.join(os.environ.get('TMPDIR') or '/tmp', 'anchors')))
  ap.add_argument('--timeout', type=float, default=900, help='seconds per measurement process')
  ap.add_argument('--worker', nargs='+', help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args.worker:
    kind, rest = args.worker[0], args.worker[1:]
    if kind == 'boids':
      out = worker_boids(int(rest[0]), rest[1], int(rest[2]))
    elif kind == 'check':
      out = worker_check(rest[0])
    else:
      out = worker_flock(int(rest[0]), int(rest[1]), int(rest[2]))
    print('RESULT ' + json.dumps(out), flush=True)
    return

  q = args.quick
  sizes = [int(s) for s in (args.sizes or ('1000' if q else '1000,10000,100000')).split(',')]
  flock_cfgs = [tuple(int(x) for x in c.split('x'))
                for c in (args.flock or ('32x100,1024x4' if q else '1x10000,32x100,1024x4')).split(',')]
  create = not args.no_peers and (not q or args.peers)
  jpy = None if args.no_peers else peer_python(args.anchors, 'jaxmd', create)
  vpy = None if args.no_peers else peer_python(args.anchors, 'vmas', create)
  me = [sys.executable, os.path.abspath(__file__), '--worker']
  import jax
  machine = machine_info(jax=jax.__version__)
  t_start = time.perf_counter()

  # -- correctness check at N=200
  tmp = tempfile.mkdtemp(prefix='flockbench_')
  npz = os.path.join(tmp, 'check.npz')
  check = run_sub(me + ['check', npz], args.timeout, 'check gambol nl vs all pairs, N=200')
  if jpy and 'error' not in check:
    import numpy as np
    jc = run_sub([jpy, os.path.join(HERE, '_flock_jaxmd.py'), 'check', npz, str(CHECK_STEPS)],
                 args.timeout, 'check jax-md version vs gambol, N=200')
    if 'error' in jc:
      check['jaxmd'] = jc
    else:
      ref = np.load(npz)
      check['jaxmd_max_abs_position_diff'] = min_image_max_diff(jc['position'], ref['final_position'],
                                                                float(ref['box']))
      check['jaxmd_max_abs_theta_diff'] = float(np.max(np.abs(np.asarray(jc['theta']) - ref['final_theta'])))
  if 'max_abs_position_diff' in check:
    check['agrees_1e-3'] = check['max_abs_position_diff'] < 1e-3

  # -- boids ms/step
  boids = {}
  for N in sizes:
    r = {}
    box = 800.0 * (N / 200) ** 0.5
    r['env'] = run_sub(me + ['boids', str(N), 'env', str(steps_for(N, 'env', q))], args.timeout,
                       f'boids env N={N}')
    if jpy:
      r['jaxmd'] = run_sub([jpy, os.path.join(HERE, '_flock_jaxmd.py'), 'time', str(N), repr(box),
                            str(steps_for(N, 'env', q)), args.jaxmd_format, str(MAX_NEIGHBORS)],
                           args.timeout, f'boids jax-md N={N}')
    r['core'] = run_sub(me + ['boids', str(N), 'core', str(steps_for(N, 'env', q))], args.timeout,
                        f'boids core N={N}')
    if N <= ALLPAIRS_MAX:
      r['allpairs'] = run_sub(me + ['boids', str(N), 'allpairs', str(steps_for(N, 'allpairs', q))],
                              args.timeout, f'boids all-pairs N={N}')
    else:
      r['allpairs'] = dict(skipped=f'N > {ALLPAIRS_MAX}: all pairs is O(N^2) (memory and time)')
    ms = {k: v.get('ms_per_step') for k, v in r.items()}
    r['ms_per_step'] = ms
    r['ratios'] = {'allpairs/env': ratio(ms.get('allpairs'), ms['env']),
                   'jaxmd/env': ratio(ms.get('jaxmd'), ms['env']),
                   'jaxmd/core': ratio(ms.get('jaxmd'), ms['core']),
                   'env/core': ratio(ms['env'], ms['core'])}
    boids[str(N)] = r

  # -- flock agent-steps/s vs VMAS
  flock = {}
  for B, A in flock_cfgs:
    steps = max(5, min(100, int(2e5 / (B * A))))
    flock[f'{B}x{A}'] = run_sub(me + ['flock', str(B), str(A), str(max(2, steps // 4) if q else steps)],
                                args.timeout, f'flock batch={B} agents={A}')
  vmas = {}
  if vpy:
    for n in VMAS_ENVS:
      vmas[str(n)] = run_sub([vpy, os.path.join(HERE, '_flock_vmas.py'), str(n),
                              str((50 if n <= 32 else 10) if q else (200 if n <= 32 else 50))],
                             args.timeout, f'vmas flocking num_envs={n}')
  v_rates = {k: v.get('agent_steps_per_s') for k, v in vmas.items()}
  v_best = max((x for x in v_rates.values() if x), default=None)
  for k, r in flock.items():
    r['ratio_vs_vmas_best'] = ratio(r.get('agent_steps_per_s'), v_best)
    B = k.split('x')[0]
    r['ratio_vs_vmas_same_num_envs'] = ratio(r.get('agent_steps_per_s'), v_rates.get(B))

  # -- targets
  def ms(N, k):
    return boids.get(str(N), {}).get('ms_per_step', {}).get(k)

  g_best = max((r.get('agent_steps_per_s') or 0 for r in flock.values()), default=0) or None
  like = flock.get('1024x4', {}).get('ratio_vs_vmas_same_num_envs')
  targets = {
      'boids_10000_under_50ms': None if ms(10000, 'env') is None else ms(10000, 'env') < INTERACTIVE_MS,
      'faster_than_jaxmd_at_10000': None if ratio(ms(10000, 'jaxmd'), ms(10000, 'env')) is None
      else ms(10000, 'jaxmd') > ms(10000, 'env'),
      'faster_than_jaxmd_at_100000': None if ratio(ms(100000, 'jaxmd'), ms(100000, 'env')) is None
      else ms(100000, 'jaxmd') > ms(100000, 'env'),
      'flock_10x_vmas_same_batch_1024x4': None if like is None else like >= 10,
      'flock_10x_vmas_best_vs_best': None if ratio(g_best, v_best) is None else g_best / v_best >= 10,
      'allpairs_agrees_1e-3_at_200': check.get('agrees_1e-3'),
  }
  machine['load_avg_end'] = list(os.getloadavg())
  out = dict(benchmark='flocking', quick=q, check=check, boids=boids, flock=flock, vmas=vmas,
             targets=targets, wall_s=time.perf_counter() - t_start, machine=machine,
             notes=['ms/step: jit(step) called once per step with block_until_ready after each; '
                    'median of 3 repeats after a 20-step warm-up (10 for flock, 1 for all pairs)',
                    'jax-md: Dense list padded to 48 neighbours like gambol; same N, box, cutoff 45, '
                    'skin 10, dt 0.1; gambol boids has no obstacles/predators by default',
                    'all-pairs: gambol.envs.flocking.all_pairs_idx swapped for a vectorised equal one '
                    'in the all-pairs processes (the library one is a Python double loop)',
                    'shared 2-core VM: figures are noisy (about +-30%); compare ratios of this run'],
             command=' '.join(['python'] + sys.argv))
  print(json.dumps(out, indent=1), flush=True)

  f = lambda x, spec: '-' if x is None else format(x, spec)  # noqa: E731
  print('\nboids: ms/step (median of 3, per-step jit calls); ratios > 1: gambol env faster')
  print(f'{"N":>7} {"env":>9} {"core":>9} {"jax-md":>9} {"allpairs":>10} {"jaxmd/env":>9}'
        f' {"jaxmd/core":>10} {"allp/env":>9} {"overflow":>8} {"grown":>5}')
  for N, r in boids.items():
    m, q_ = r['ms_per_step'], r['ratios']
    print(f'{N:>7} {f(m["env"], ".2f"):>9} {f(m["core"], ".2f"):>9} {f(m.get("jaxmd"), ".2f"):>9}'
          f' {f(m.get("allpairs"), ".2f"):>10} {f(q_["jaxmd/env"], ".2f"):>9} {f(q_["jaxmd/core"], ".2f"):>10}'
          f' {f(q_["allpairs/env"], ".1f"):>9} {str(r["env"].get("overflow")):>8} {r["env"].get("grown", "-"):>5}')
  print(f'check N=200, {CHECK_STEPS} steps: max |dR| nl vs all pairs = {f(check.get("max_abs_position_diff"), ".2e")}'
        f', vs jax-md version = {f(check.get("jaxmd_max_abs_position_diff"), ".2e")}')
  print('\nflock: agent-steps/s (batch x agents x steps / s); VMAS flocking 4 agents')
  for k, r in flock.items():
    print(f'  gambol {k:>9}: {f(r.get("agent_steps_per_s"), ",.0f"):>12}  ({f(r.get("ms_per_step"), ".2f")} ms/step)'
          f'  vs VMAS best x{f(r["ratio_vs_vmas_best"], ".1f")}, same num_envs x{f(r["ratio_vs_vmas_same_num_envs"], ".1f")}')
  for k, v in vmas.items():
    print(f'  VMAS num_envs={k:>5}: {f(v.get("agent_steps_per_s"), ",.0f"):>12}' + (f'  ({v["error"]})' if 'error' in v else ''))
  print('\ntargets: ' + ', '.join(f'{k}={v}' for k, v in targets.items()))
  errors = [f'{k}: {v["error"]}' for sec in (boids,) for r in sec.values() for k, v in r.items()
            if isinstance(v, dict) and 'error' in v]
  errors += [f'flock {k}: {v["error"]}' for k, v in flock.items() if 'error' in v]
  errors += [f'vmas {k}: {v["error"]}' for k, v in vmas.items() if 'error' in v]
  if 'error' in check:
    errors.append(f'check: {check["error"]}')
  if errors:
    print('errors: ' + '; '.join(errors))
  print(f'load average {machine["load_avg_start"][0]:.2f} -> {machine["load_avg_end"][0]:.2f} on '
        f'{machine["nproc"]} cores: shared machine, figures are noisy; ratios are from this run')


if __name__ == '__main__':
  main()
