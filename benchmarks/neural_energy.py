"""Graph-network energies in simulation: gambol vs jax-md 0.2.29, and the trained GNN deployed.

Speed (float32, CPU): diamond silicon of N = 512, 8,000, 64,000 atoms (4, 10, 20 conventional
cells, a = 5.431 Å, periodic), a graph-network energy of the same size in both libraries
(3 rounds of message passing, width 32, cutoff 5 Å, skin 0.5 Å, random initial parameters),
NVT Langevin at 300 K with dt = 0.01 fs (the two random networks' forces differ; so small a step
keeps both systems at the crystal, where neither list rebuilds or overflows: per step, one force
evaluation, the integrator and the list's rebuild test), one call = a jitted lax.fori_loop of STEPS[N] steps of
(nbrs.update, apply).  Per run: the first call (compile + run; on overflow: reallocate and
call again), then the median of 3 timed calls -> ms/step.  gambol: `neural.graph_network_neighbor_list`
(distance-only, as trained); jax-md: `energy.graph_network_neighbor_list` (its EnergyGraphNet,
Dense format: its own backend; Sparse: jraph).  Each configuration in its own subprocess, gambol
and jax-md alternating; jax-md from its venv ($ANCHORS/jaxmd, `_common.peer_python`).  The two
architectures differ (gambol: continuous-filter messages on distances; jax-md: MLPs on edges of
displacement vectors) at the same rounds and width; parameter counts are reported.

Deployment (--deploy PARAMS_DIR): the trained GNN (scripts/train_neural_energy.py; its
params.msgpack and metrics.json) baked in with functools.partial drives NVT Langevin of N atoms
(default 64,000) at 300 K under partition.run_with_reallocation: ms/step, kinetic temperature
per chunk, then an NVE segment's total-energy drift.

  .venv/bin/python benchmarks/neural_energy.py [--sizes 512,8000,64000] [--skip-peer]
  .venv/bin/python benchmarks/neural_energy.py --deploy outputs/neural_gnn [--deploy-n 64000]
Output: one JSON line per measurement, then a summary line with ratios
jaxmd_ms_per_step / gambol_ms_per_step (> 1: gambol faster).
"""
import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time

from _common import machine_info, peer_python

STEPS = {512: 20, 8000: 4, 64000: 2}
CELLS = {512: 4, 8000: 10, 64000: 20}
KB, MASS, FS = 8.617333e-5, 28.0855, 1.0 / 10.1805
CUTOFF, SKIN, WIDTH, ROUNDS = 5.0, 0.5, 32, 3


def _diamond(cells, a=5.431):
  import numpy as np
  fcc = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
  basis = np.concatenate([fcc, fcc + 0.25])
  g = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing='ij'), -1).reshape(-1, 1, 3)
  R = ((g + basis[None]) * a).reshape(-1, 3)
  return R + 0.05 * np.random.RandomState(0).randn(*R.shape), cells * a


def _timed(fn, *args):
  import jax
  t0 = time.perf_counter()
  out = jax.block_until_ready(fn(*args))
  return out, time.perf_counter() - t0


def _chunk(apply, steps):
  """jit of `steps` steps of (list update, apply) carrying (state, nbrs)."""
  import jax

  def step(i, carry):
    nbrs = carry[1].update(carry[0].position)
    return apply(carry[0], neighbor=nbrs), nbrs
  return jax.jit(lambda state, nbrs: jax.lax.fori_loop(0, steps, step, (state, nbrs)))


def _run_nvt(simulate, energy_fn, neighbor_fn, shift, R, steps, info, kT=KB * 300.0, dt=0.01 * FS):
  """Compile, warm up (reallocating on overflow) and time `steps`-step calls of NVT Langevin
  (`simulate`: the library's module)."""
  import jax
  init, apply = simulate.nvt_langevin(energy_fn, shift, dt=dt, kT=kT, gamma=0.01 / FS)
  nbrs, info['allocate_s'] = _timed(neighbor_fn.allocate, R)
  info['nbr_idx_shape'] = list(nbrs.idx.shape)
  state = init(jax.random.PRNGKey(0), R, mass=MASS, neighbor=nbrs)

  run_c = _chunk(apply, steps)   # (not AOT-lowered: jax-md's state changes weak types after one step)
  info['reallocations'] = 0
  for attempt in range(5):   # the first call compiles
    (s2, n2), info['compile_and_first_call_s'] = _timed(run_c, state, nbrs)
    if not bool(n2.did_buffer_overflow):
      break
    info['reallocations'] = attempt + 1
    nbrs = neighbor_fn.allocate(state.position, extra_capacity=4)
  state, nbrs = s2, n2
  times = []
  for _ in range(3):
    (state, nbrs), t = _timed(run_c, state, nbrs)
    times.append(t)
  info['overflow'] = bool(nbrs.did_buffer_overflow)
  info['finite'] = bool(jax.numpy.all(jax.numpy.isfinite(state.position)))
  info['call_times_s'] = times
  info['ms_per_step'] = 1e3 * statistics.median(times) / steps
  return state


def worker(lib, N, fmt):
  import jax
  import jax.numpy as jnp
  from importlib import metadata
  info = dict(lib=lib, N=N, format=fmt, steps_per_call=STEPS[N], jax=jax.__version__,
              lib_version=metadata.version('gambol' if lib == 'gambol' else 'jax-md'))
  R, L = _diamond(CELLS[N])
  R = jnp.asarray(R, jnp.float32)
  if lib == 'gambol':
    from gambol.physics import neural, simulate, space
    disp, shift = space.periodic(L)
    neighbor_fn, init_fn, energy_fn = neural.graph_network_neighbor_list(
        disp, L, CUTOFF, dr_threshold=SKIN, features=WIDTH, rounds=ROUNDS, angular=False)
    params = init_fn(jax.random.PRNGKey(0), R, neighbor=neighbor_fn.allocate(R))
    info['params'] = int(sum(x.size for x in jax.tree.leaves(params)))
    energy = functools.partial(energy_fn, params)
  else:
    from flax import nnx
    from jax_md import energy as jm_energy, partition, simulate, space
    disp, shift = space.periodic(L)
    neighbor_fn, energy = jm_energy.graph_network_neighbor_list(
        disp, L, CUTOFF, SKIN, key=jax.random.PRNGKey(0), n_recurrences=ROUNDS, mlp_sizes=(WIDTH, WIDTH),
        format=getattr(partition.NeighborListFormat, fmt))
    info['params'] = int(sum(x.size for x in jax.tree.leaves(nnx.state(energy.model, nnx.Param))))
  _run_nvt(simulate, energy, neighbor_fn, shift, R, STEPS[N], info)
  return info


def deploy(params_dir, N, nvt_chunks, nve_chunks, chunk_steps, gamma_per_fs=0.05):
  """The trained GNN at N atoms: NVT at 300 K, then NVE; per-chunk temperature and energy."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from flax import serialization
  from gambol.physics import neural, partition, quantity, simulate, space
  with open(os.path.join(params_dir, 'metrics.json')) as f:
    m = json.load(f)['metrics']
  cells = round((N / 8) ** (1 / 3))
  R, L = _diamond(cells)
  R = jnp.asarray(R, jnp.float32)
  disp, shift = space.periodic(L)
  neighbor_fn, init_fn, energy_fn = neural.graph_network_neighbor_list(
      disp, L, m['cutoff'], dr_threshold=SKIN, features=m['features'], rounds=m['rounds'],
      angular=m.get('angular', False))
  nbrs = neighbor_fn.allocate(R)
  template = init_fn(jax.random.PRNGKey(0), R, neighbor=nbrs)
  with open(os.path.join(params_dir, 'params.msgpack'), 'rb') as f:
    params = serialization.from_bytes(template, f.read())
  energy = functools.partial(energy_fn, params)        # baked in: an ordinary energy
  kT = KB * 300.0
  info = dict(mode='deploy', N=int(R.shape[0]), box=L, trained=m, chunk_steps=chunk_steps, dt_fs=1.0,
              gamma_per_fs=gamma_per_fs,
              T_target_K=300.0, nbr_idx_shape=list(nbrs.idx.shape))

  init, apply = simulate.nvt_langevin(energy, shift, dt=FS, kT=kT, gamma=gamma_per_fs / FS)
  state = init(jax.random.PRNGKey(1), R, mass=MASS, neighbor=nbrs)
  run = _chunk(apply, chunk_steps)
  temps, times, rebuilds = [], [], []
  alloc0 = nbrs.idx.shape
  for c in range(nvt_chunks):
    before = int(nbrs.rebuilds)
    t0 = time.perf_counter()
    state, nbrs = partition.run_with_reallocation(run, state, nbrs, neighbor_fn, position_fn=lambda s: s.position)
    jax.block_until_ready(state.position)
    times.append(time.perf_counter() - t0)
    rebuilds.append(int(nbrs.rebuilds) - before if nbrs.idx.shape == alloc0 else None)
    temps.append(float(quantity.temperature(momentum=state.momentum, mass=MASS)) / KB)
    print(json.dumps(dict(chunk=c, T_K=temps[-1], seconds=times[-1])), file=sys.stderr, flush=True)
  info.update(nvt_T_K=temps, nvt_chunk_s=times, nvt_rebuilds=rebuilds, nbr_idx_shape_final=list(nbrs.idx.shape),
              nvt_ms_per_step_excluding_first=1e3 * statistics.median(times[1:] or times) / chunk_steps,
              nvt_T_mean_second_half_K=float(np.mean(temps[len(temps) // 2:])))
  # NVE from the thermalised state
  init_e, apply_e = simulate.nve(energy, shift, dt=FS)
  st = simulate.NVEState(state.position, state.momentum, state.force, state.mass)
  run_e = _chunk(apply_e, chunk_steps)
  total = jax.jit(lambda s, n: energy(s.position, neighbor=n) + quantity.kinetic_energy(momentum=s.momentum,
                                                                                      mass=s.mass))
  energies = [float(total(st, nbrs)) / info['N']]
  for c in range(nve_chunks):
    st, nbrs = partition.run_with_reallocation(run_e, st, nbrs, neighbor_fn, position_fn=lambda s: s.position)
    energies.append(float(total(st, nbrs)) / info['N'])
  info.update(nve_total_energy_per_atom_eV=energies, nve_steps=nve_chunks * chunk_steps,
              nve_drift_meV_per_atom=1e3 * (energies[-1] - energies[0]),
              overflow_left=bool(nbrs.did_buffer_overflow))
  return info


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--sizes', default='512,8000,64000')
  ap.add_argument('--repeats', type=int, default=1)
  ap.add_argument('--skip-peer', action='store_true')
  ap.add_argument('--jaxmd-formats', default='Dense')
  ap.add_argument('--anchors', default=os.environ.get('ANCHORS', os.path.join(os.environ.get('TMPDIR') or '/tmp',
                                                                              'anchors')))
  ap.add_argument('--timeout', type=float, default=1800)
  ap.add_argument('--deploy', metavar='PARAMS_DIR')
  ap.add_argument('--deploy-n', type=int, default=64000)
  ap.add_argument('--nvt-chunks', type=int, default=4)
  ap.add_argument('--nve-chunks', type=int, default=2)
  ap.add_argument('--chunk-steps', type=int, default=5)
  ap.add_argument('--worker', nargs=3, metavar=('LIB', 'N', 'FORMAT'))
  args = ap.parse_args()
  if args.worker:
    lib, N, fmt = args.worker
    print('RESULT ' + json.dumps(worker(lib, int(N), fmt)), flush=True)
    return
  if args.deploy:
    info = deploy(args.deploy, args.deploy_n, args.nvt_chunks, args.nve_chunks, args.chunk_steps)
    info['machine'] = machine_info(load_avg_end=list(os.getloadavg()))
    print(json.dumps(info), flush=True)
    return
  sizes = [int(s) for s in args.sizes.split(',')]
  configs = [('gambol', sys.executable, 'Dense')]
  if not args.skip_peer:
    jpy = peer_python(args.anchors, 'jaxmd')
    configs += [('jaxmd', jpy, f) for f in args.jaxmd_formats.split(',')]
  results = []
  for N in sizes:
    for rnd in range(args.repeats):
      for lib, py, fmt in configs:
        cmd = [py, os.path.abspath(__file__), '--worker', lib, str(N), fmt]
        t0, load = time.perf_counter(), os.getloadavg()[0]
        try:
          p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                             env=dict(os.environ, JAX_PLATFORMS='cpu'))
          lines = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
          info = (json.loads(lines[-1][7:]) if lines else
                  dict(lib=lib, N=N, format=fmt, error=f'rc={p.returncode}', stderr_tail=p.stderr[-3000:]))
        except subprocess.TimeoutExpired:
          info = dict(lib=lib, N=N, format=fmt, error=f'timeout after {args.timeout} s')
        info.update(round=rnd, process_wall_s=time.perf_counter() - t0, load_avg_1min=[load, os.getloadavg()[0]])
        results.append(info)
        print(json.dumps(info), flush=True)
  summary = {}
  for N in sizes:
    med = {}
    for lib, _, fmt in configs:
      v = [r['ms_per_step'] for r in results if r['N'] == N and r['lib'] == lib and r['format'] == fmt
           and 'ms_per_step' in r]
      med[f'{lib}_{fmt}'] = statistics.median(v) if v else None
    g = med.get('gambol_Dense')
    summary[str(N)] = dict(ms_per_step=med, speedup={k: (v / g if v and g else None) for k, v in med.items()
                                                     if k.startswith('jaxmd')})
  print(json.dumps(dict(summary=summary, machine=machine_info(load_avg_end=list(os.getloadavg())),
                        workload=dict(cutoff=CUTOFF, skin=SKIN, width=WIDTH, rounds=ROUNDS, dt_fs=0.01, T_K=300,
                                      steps_per_call=STEPS, dtype='float32'),
                        command=' '.join(['python'] + sys.argv))), flush=True)


if __name__ == '__main__':
  main()
