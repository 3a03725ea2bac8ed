"""Lennard-Jones NVE benchmark from the JAX MD paper: gambol vs jax-md, side by side.

What is measured (float32, same workload for both libraries):
  3-D periodic box at number density 0.8442; N particles on the first N sites of a
  ceil(N^(1/3))^3 simple cubic lattice, positions (g + 0.5) * box / n; Maxwell-Boltzmann
  velocities at kT = 1.44; velocity-Verlet NVE with dt = 0.005; Lennard-Jones
  (sigma = epsilon = 1) switched smoothly to zero between r_onset = 2.0 and r_cutoff = 2.5,
  neighbour list with skin dr_threshold = 0.5.  One call = a jitted lax.fori_loop of STEPS
  iterations of (nbrs.update, apply).  N=216 uses 10000 steps/call, N=10000 uses 200.
  Per run: compile seconds (jit(f).lower(...).compile(), timed alone); one warm-up call
  that doubles as equilibration (on neighbour-list overflow: reallocate with
  extra_capacity=4, recompile, rerun); the median of 3 timed calls (block_until_ready)
  -> ms/step; total energy per particle at start/end of the timed calls; neighbour-list
  rebuilds per call (gambol's nbrs.rebuilds counter; jax-md has none).  Separately: a
  forced rebuild (list cutoff 3.0, dr_threshold 0, jitted update, median of 5) and the
  host-side allocate (first call / second call).

Each configuration runs in its own subprocess; gambol and jax-md alternate (A B A B) for
--repeats rounds.  jax-md runs in its own virtual env, $ANCHORS/jaxmd (default
ANCHORS=${TMPDIR:-/tmp}/anchors), created with `pip install jax-md==0.2.29` if missing;
in that interpreter this file runs as `--worker jaxmd N STEPS FORMAT` and imports only
jax, numpy and jax_md (never gambol).

Run (from the repository root):
  .venv/bin/python benchmarks/lj_nve.py [--sizes 216,10000] [--repeats 2] [--skip-peer]
      [--gambol-formats Dense[,Sparse,OrderedSparse]] [--jaxmd-formats OrderedSparse,Dense]
Output: one JSON object per measurement (one line each), then a summary JSON with per-N
medians and speed-ups jaxmd_ms_per_step / gambol_ms_per_step (> 1: gambol faster); the
headline compares gambol Dense with jax-md OrderedSparse (jax-md's fastest format).
"""
import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from _common import machine_info, peer_python

STEPS = {216: 10000, 10000: 200}
DENSITY, KT, DT = 0.8442, 1.44, 0.005


# ----------------------------------------------------------------------------- worker


def _timed(fn, *args):
  import jax
  t0 = time.perf_counter()
  out = fn(*args)
  jax.block_until_ready(out)
  return out, time.perf_counter() - t0


def worker(lib, N, steps, fmt_name):
  """One measurement in this process; `lib` is 'gambol' or 'jaxmd'.  Returns a dict."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from jax import lax
  if lib == 'gambol':
    from gambol.physics import energy, partition, quantity, simulate, space
  else:
    from jax_md import energy, partition, quantity, simulate, space
  from importlib import metadata
  fmt = getattr(partition.NeighborListFormat, fmt_name)
  box = float(quantity.box_size_at_number_density(N, DENSITY, 3))
  disp, shift = space.periodic(box)
  neighbor_fn, energy_fn = energy.lennard_jones_neighbor_list(
      disp, box, r_onset=2.0, r_cutoff=2.5, dr_threshold=0.5, format=fmt)
  init, apply = simulate.nve(energy_fn, shift, dt=DT)
  n_side = int(np.ceil(N ** (1 / 3) - 1e-9))
  grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing='ij'), -1).reshape(-1, 3)[:N]
  R = jnp.asarray((grid + 0.5) * (box / n_side), dtype=jnp.float32)
  info = dict(lib=lib, N=N, format=fmt_name, steps_per_call=steps, box=box,
              jax=jax.__version__, python=platform.python_version(),
              lib_version=metadata.version('gambol' if lib == 'gambol' else 'jax-md'),
              backend=jax.default_backend())

  # neighbour-list allocation (host) and forced rebuild (jit, dr_threshold=0)
  nbrs, info['allocate_first_s'] = _timed(neighbor_fn.allocate, R)
  nbrs, info['allocate_second_s'] = _timed(neighbor_fn.allocate, R)
  info['nbr_idx_shape'] = list(nbrs.idx.shape)
  forced = partition.neighbor_list(disp, box, 3.0, 0.0, format=fmt)
  n0 = forced.allocate(R)
  t0 = time.perf_counter()
  build = jax.jit(lambda r, n: forced.update(r, n)).lower(R, n0).compile()
  info['nbr_build_compile_s'] = time.perf_counter() - t0
  Rj = R + 0.01
  _timed(build, Rj, n0)
  info['nbr_build_ms'] = 1e3 * statistics.median(_timed(build, Rj, n0)[1] for _ in range(5))

  def total_energy(s, n):
    e = energy_fn(s.position, neighbor=n) + quantity.kinetic_energy(momentum=s.momentum, mass=s.mass)
    return float(e) / N

  def run(state, nbrs):
    def body(i, sn):
      s, n = sn
      n = n.update(s.position)
      return apply(s, neighbor=n), n
    return lax.fori_loop(0, steps, body, (state, nbrs))

  state = init(jax.random.PRNGKey(0), R, kT=KT, neighbor=nbrs)
  info['dtype'] = str(state.position.dtype)
  info['E_per_particle_initial'] = total_energy(state, nbrs)
  t0 = time.perf_counter()
  run_c = jax.jit(run).lower(state, nbrs).compile()
  info['compile_s'] = time.perf_counter() - t0
  info['reallocations'] = 0
  for attempt in range(5):   # warm-up = equilibration; grow the list until it fits
    (s2, n2), info['warmup_call_s'] = _timed(run_c, state, nbrs)
    if not bool(n2.did_buffer_overflow):
      break
    info['reallocations'] = attempt + 1
    nbrs = neighbor_fn.allocate(state.position, extra_capacity=4)
    t0 = time.perf_counter()
    run_c = jax.jit(run).lower(state, nbrs).compile()
    info['recompile_s'] = time.perf_counter() - t0
  state, nbrs = s2, n2
  info['nbr_idx_shape_final'] = list(nbrs.idx.shape)
  info['E_per_particle_start'] = total_energy(state, nbrs)
  times, rebuilds = [], []
  for _ in range(3):
    before = int(nbrs.rebuilds) if hasattr(nbrs, 'rebuilds') else None
    (state, nbrs), t = _timed(run_c, state, nbrs)
    times.append(t)
    if before is not None:
      rebuilds.append(int(nbrs.rebuilds) - before)
  info['E_per_particle_end'] = total_energy(state, nbrs)
  info['overflow'] = bool(nbrs.did_buffer_overflow)
  info['rebuilds_per_call'] = rebuilds or None
  info['call_times_s'] = times
  info['ms_per_step'] = 1e3 * statistics.median(times) / steps
  info['particle_steps_per_s'] = N * steps / statistics.median(times)
  return info


# ----------------------------------------------------------------------------- driver


def run_worker(python, lib, N, fmt, args):
  cmd = [python, os.path.abspath(__file__), '--worker', lib, str(N), str(STEPS[N]), fmt]
  env = dict(os.environ, JAX_PLATFORMS=args.platform)
  t0 = time.perf_counter()
  try:
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
  except subprocess.TimeoutExpired:
    return dict(lib=lib, N=N, format=fmt, error=f'timeout after {args.timeout} s')
  lines = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
  if p.returncode != 0 or not lines:
    return dict(lib=lib, N=N, format=fmt, error=f'rc={p.returncode}', stderr_tail=p.stderr[-4000:])
  info = json.loads(lines[-1][len('RESULT '):])
  info['process_wall_s'] = time.perf_counter() - t0
  return info


def summarize(results, sizes, gambol_formats, jaxmd_formats):
  def med(lib, N, fmt, key):
    vals = [r[key] for r in results
            if r['lib'] == lib and r['N'] == N and r['format'] == fmt and key in r]
    return statistics.median(vals) if vals else None

  def ratio(a, b):
    return a / b if a is not None and b else None

  out = {}
  for N in sizes:
    s = dict(steps_per_call=STEPS[N], gambol={}, jaxmd={}, speedup={})
    for lib, fmts in (('gambol', gambol_formats), ('jaxmd', jaxmd_formats)):
      for f in fmts:
        s[lib][f] = {k: med(lib, N, f, k) for k in ('ms_per_step', 'nbr_build_ms', 'compile_s')}
    for gf, jf in itertools.product(gambol_formats, jaxmd_formats):
      g, j = s['gambol'][gf], s['jaxmd'][jf]
      s['speedup'][f'jaxmd_{jf}/gambol_{gf}'] = dict(
          ms_per_step=ratio(j['ms_per_step'], g['ms_per_step']),
          nbr_build=ratio(j['nbr_build_ms'], g['nbr_build_ms']))
    head = s['speedup'].get(f'jaxmd_OrderedSparse/gambol_{gambol_formats[0]}', {})
    s['headline_speedup_ms_per_step'] = head.get('ms_per_step')
    s['headline_speedup_nbr_build'] = head.get('nbr_build')
    out[str(N)] = s
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--sizes', default='216,10000')
  ap.add_argument('--repeats', type=int, default=2)
  ap.add_argument('--skip-peer', action='store_true', help='gambol only, no jax-md')
  ap.add_argument('--gambol-formats', default='Dense')
  ap.add_argument('--jaxmd-formats', default='OrderedSparse,Dense')
  ap.add_argument('--anchors', default=os.environ.get(
      'ANCHORS', os.path.join(os.environ.get('TMPDIR') or '/tmp', 'anchors')))
  ap.add_argument('--platform', default='cpu', help='JAX_PLATFORMS for the workers')
  ap.add_argument('--timeout', type=float, default=1800, help='seconds per worker process')
  ap.add_argument('--worker', nargs=4, metavar=('LIB', 'N', 'STEPS', 'FORMAT'))
  args = ap.parse_args()
  if args.worker:
    lib, N, steps, fmt = args.worker
    print('RESULT ' + json.dumps(worker(lib, int(N), int(steps), fmt)), flush=True)
    return

  sizes = [int(s) for s in args.sizes.split(',')]
  unknown = [N for N in sizes if N not in STEPS]
  if unknown:
    ap.error(f'--sizes: no steps/call defined for {unknown}; known: {sorted(STEPS)}')
  gambol_formats = args.gambol_formats.split(',')
  jaxmd_formats = [] if args.skip_peer else args.jaxmd_formats.split(',')
  configs = [('gambol', sys.executable, f) for f in gambol_formats]
  if jaxmd_formats:
    jpy = peer_python(args.anchors, 'jaxmd')
    peer = [('jaxmd', jpy, f) for f in jaxmd_formats]
    configs = [c for pair in itertools.zip_longest(configs, peer) for c in pair if c]  # A B A B
  results = []
  for N in sizes:
    for rnd in range(args.repeats):
      for lib, py, fmt in configs:
        info = run_worker(py, lib, N, fmt, args)
        info['round'] = rnd
        results.append(info)
        print(json.dumps(info), flush=True)
  errors = [dict(lib=r['lib'], N=r['N'], format=r['format'], error=r['error'])
            for r in results if 'error' in r]
  summary = dict(summary=summarize([r for r in results if 'error' not in r], sizes,
                                   gambol_formats, jaxmd_formats),
                 workload=dict(density=DENSITY, kT=KT, dt=DT, r_onset=2.0, r_cutoff=2.5,
                               dr_threshold=0.5, forced_rebuild_cutoff=3.0, dtype='float32'),
                 versions={lib: next(({k: r[k] for k in ('jax', 'python', 'lib_version', 'backend')}
                                      for r in results if r['lib'] == lib and 'jax' in r), None)
                           for lib in ('gambol', 'jaxmd')},
                 machine=machine_info(), repeats=args.repeats, errors=errors,
                 command=' '.join([os.path.basename(sys.executable)] + sys.argv))
  print(json.dumps(summary, indent=1), flush=True)


if __name__ == '__main__':
  main()
