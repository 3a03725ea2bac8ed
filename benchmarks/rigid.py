"""Rigid-body speed: an ant on gambol's rigid engine vs brax 0.0.16 and brax 0.14.2, side by side.

What is measured (float32, CPU, one process per measurement, batches 1, 128 and 1024):
  env steps/s = batch x steps / median call time of ONE jitted `lax.scan` over `steps` steps of
  `rigid.step_batch` (gambol; `vmap(step)` before it existed) or `vmap(step)` (peers), driven by a fixed action sequence (uniform in [-1, 1], drawn once with seed 0,
  replayed every call, the state carried on). The compile of that function
  (`jit(...).lower(...).compile()`) is timed apart ("compile s"), then one untimed call, then the
  median of `repeats` timed calls (block_until_ready). Every env step is 10 physics substeps of an
  env dt of 0.05 s. No episode or reset wrappers: no resets inside the timing.
  gambol        `rigid.step(sys, qp, action)` of gambol.physics.rigid on an ant-like spec (TOML);
                physics only (one env step = sys.substeps substeps).
  brax 0.0.16   the paper-era spring engine: `ant` built with legacy_spring=True (obs 87, act 8),
                jax 0.4.35, venv $ANCHORS/braxv1 (benchmarks/_rigid_brax_v1.py). Timed twice:
                "env" (`env.step`: physics + observation + reward) and "physics" (`sys.step`).
                Peer `v1j10`: the same on jax 0.10.1 (venv $ANCHORS/braxv1_jax010), gambol's jax,
                so that compile times compare like with like (jax 0.4.35's XLA compiled a
                program as one LLVM module; 0.10's compiles every fused kernel apart).
  brax 0.14.2   `get_environment('ant', backend=B)` for B in spring, positional, generalized, mjx
                (obs 27, act 8), jax 0.10.1, venv $ANCHORS/brax (benchmarks/_rigid_brax.py); "env"
                (`env.step`) by default, also "physics" (`env.pipeline_step`) with --physics all.
                generalized and mjx ship with 5 substeps of 0.01 s; they are run at 10 of 0.005 s
                like the others unless --substeps native.
Rounds alternate the libraries (gambol, peer, peer, ..., gambol, peer, ...) so that a change of load
on the shared machine hits every library alike; per library and batch the median over rounds is
reported, and ratios gambol / peer (> 1: gambol faster) are of those medians.
Peers live in venvs under $ANCHORS (default ${TMPDIR:-/tmp}/anchors), created if missing with the
pip lines of benchmarks/_common.py PEERS['braxv1'] and PEERS['brax'].
The jax versions differ (gambol and brax 0.14.2: the gambol venv's / 0.10.1; brax 0.0.16: 0.4.35,
which it needs): on this machine jax 0.4.35 ran a small spring-joint step about 1.3x faster than
jax 0.10.1, so a ratio against brax 0.0.16 includes that effect.

Run (from the repository root):
  .venv/bin/python benchmarks/rigid.py                      # batches 1, 128, 1024; 2 rounds
  .venv/bin/python benchmarks/rigid.py --quick              # 1 round, short scans, brax 0.0.16 only
  .venv/bin/python benchmarks/rigid.py --peers v1,spring,mjx --batches 128,1024 --no-gambol
  .venv/bin/python benchmarks/rigid.py --peers v1,v1j10 --batches 1,128,1024 --rounds 1
Output (stdout): one JSON line per measurement, then one summary JSON line (medians, ratios,
compile ratios peer / gambol, the 2.2x-brax-0.0.16 target, machine). A table goes to stderr. The machine is a shared 2-core VM:
single figures are noisy (+-30% or worse under load); compare ratios of one run.
Run time: the full peer run took 58 min at a load average of 10-16 (each brax 0.14.2 process spends
30-100 s compiling; positional/generalized/mjx most); --quick takes 1-2 min.
"""
import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import sys
import time

from _common import DEFAULT_ANCHORS, machine_info, peer_python, ratio, run_sub, time_env_scan

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
V2_BACKENDS = ('spring', 'positional', 'generalized', 'mjx')
ALL_PEERS = ('v1', 'v1j10') + V2_BACKENDS
TARGET_RATIO, TARGET_BATCHES = 2.2, (128, 1024)    # gambol vs brax 0.0.16 (its best jax) ant steps/s
ANCHOR = 'brax0.0.16/legacy_spring:env'


def steps_for(batch, quick):
  """Env steps per scan: a call takes roughly 0.05-3 s on this machine."""
  steps = 100 if batch == 1 else 40 if batch <= 128 else 10
  return max(4, steps // 4) if quick else steps


def label_of(peer):
  if peer == 'v1j10':
    return 'brax0.0.16-jax0.10/legacy_spring'
  return 'brax0.0.16/legacy_spring' if peer == 'v1' else f'brax0.14.2/{peer}'


# ----------------------------------------------------------------------------- gambol


def find_gambol_spec():
  """The first `ant*.toml` under the repository's folders (not hidden ones, not the venv), or None."""
  for folder in sorted(p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith('.')):
    found = sorted(folder.rglob('ant*.toml'))
    if found:
      return str(found[0])
  return None


def measure_gambol(batch, steps, repeats=3, spec=None):
  """env steps/s of gambol.physics.rigid on the ant spec (physics only); a `skipped` note if the
  engine or the spec is missing."""
  try:
    from gambol.physics import rigid
  except ImportError as e:
    return dict(lib='gambol', batch=batch, skipped=f'gambol.physics.rigid is not importable ({e})')
  spec = spec or find_gambol_spec()
  if spec is None:
    return dict(lib='gambol', batch=batch,
                skipped='no ant spec: no ant*.toml in the repository; pass --gambol-spec PATH')
  system = rigid.load_system(spec)
  action_size = system.action_size
  info, _ = time_env_scan(lambda key: rigid.default_qp(system),
                          lambda qp, action: rigid.step(system, qp, action),
                          int(action_size), batch, steps, repeats,
                          step_batch=getattr(rigid, 'step_batch', None) and (
                              lambda qp, action: rigid.step_batch(system, qp, action)))
  substeps = getattr(system, 'substeps', None)
  info.update(lib='gambol', backend='rigid', what='physics', action_size=int(action_size),
              substeps=substeps, dt=float(system.dt), spec=str(spec))
  if substeps:
    info['physics_substeps_per_s'] = info['env_steps_per_s'] * int(substeps)
  return info


def gambol_available():
  try:
    return importlib.util.find_spec('gambol.physics.rigid') is not None
  except ImportError:
    return False


# ----------------------------------------------------------------------------- driver


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--batches', default='1,128,1024')
  ap.add_argument('--peers', default=None,
                  help=f'comma-separated subset of {",".join(ALL_PEERS)} (default all; --quick: v1)')
  ap.add_argument('--no-peers', action='store_true')
  ap.add_argument('--no-gambol', action='store_true')
  ap.add_argument('--gambol-spec', default=None, help='ant TOML for gambol (default: first ant*.toml found)')
  ap.add_argument('--quick', action='store_true', help='1 round, short scans, 3 repeats, brax 0.0.16 only')
  ap.add_argument('--rounds', type=int, default=None, help='alternating rounds (default 2; --quick 1)')
  ap.add_argument('--repeats', type=int, default=None, help='timed calls per process (default 5; --quick 3)')
  ap.add_argument('--physics', choices=('v1', 'all', 'none'), default='v1',
                  help='which peers are also timed physics-only (default brax 0.0.16)')
  ap.add_argument('--substeps', default='10', help="brax 0.14.2 substeps per env step, or 'native'")
  ap.add_argument('--anchors', default=DEFAULT_ANCHORS, help='folder of the peer venvs')
  ap.add_argument('--timeout', type=float, default=600, help='seconds per measurement process')
  ap.add_argument('--worker', nargs='+', help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args.worker:
    batch, steps, repeats = (int(x) for x in args.worker[:3])
    spec = args.worker[3] if len(args.worker) > 3 else None
    print('RESULT ' + json.dumps(measure_gambol(batch, steps, repeats, spec)), flush=True)
    return

  q = args.quick
  batches = [int(b) for b in args.batches.split(',')]
  rounds = args.rounds or (1 if q else 2)
  repeats = args.repeats or (3 if q else 5)
  peers = [] if args.no_peers else (args.peers or ('v1' if q else ','.join(ALL_PEERS))).split(',')
  unknown = sorted(set(peers) - set(ALL_PEERS))
  if unknown:
    ap.error(f'--peers: unknown {unknown}; expected a subset of {list(ALL_PEERS)}')
  pythons = {}
  if 'v1' in peers:
    pythons['v1'] = peer_python(args.anchors, 'braxv1')
  if 'v1j10' in peers:
    pythons['v1j10'] = peer_python(args.anchors, 'braxv1_jax010')
  if set(peers) & set(V2_BACKENDS):
    pythons['v2'] = peer_python(args.anchors, 'brax')
  import jax
  machine = machine_info(jax=jax.__version__)
  t_start = time.perf_counter()
  notes = []

  def emit(rec):
    print(json.dumps(dict(benchmark='rigid', kind='measurement', **rec)), flush=True)

  gambol_on = not args.no_gambol
  if gambol_on and not gambol_available():
    gambol_on = False
    note = dict(lib='gambol', skipped='gambol.physics.rigid does not exist yet in this checkout')
    notes.append(note['skipped'])
    emit(note)

  def commands(batch):
    """(label, command) per library, in the alternation order."""
    steps, rep = str(steps_for(batch, q)), str(repeats if batch > 1 else 2 * repeats)
    out = []
    if gambol_on:
      out.append(('gambol/rigid', [sys.executable, str(HERE / 'rigid.py'), '--worker', str(batch),
                                   steps, rep] + ([args.gambol_spec] if args.gambol_spec else [])))
    for p in peers:
      if p in ('v1', 'v1j10'):
        what = 'env' if args.physics == 'none' else 'env,physics'
        out.append((label_of(p), [pythons[p], str(HERE / '_rigid_brax_v1.py'), str(batch), steps, rep, what]))
      else:
        what = 'env,physics' if args.physics == 'all' else 'env'
        out.append((label_of(p), [pythons['v2'], str(HERE / '_rigid_brax.py'), p, str(batch), steps, rep,
                                  what, args.substeps]))
    return out

  results = {}      # (label:what, batch) -> list of records over rounds
  for r in range(rounds):
    for batch in batches:
      for label, cmd in commands(batch):
        print(f'# round {r + 1}/{rounds} batch {batch} {label}', file=sys.stderr, flush=True)
        for rec in run_sub(cmd, args.timeout):
          rec = dict(rec, label=label, round=r, batch=batch)
          emit(rec)
          if 'skipped' in rec:
            gambol_on = False
          key = f'{label}:{rec.get("what", "skipped" if "skipped" in rec else "error")}'
          results.setdefault(batch, {}).setdefault(key, []).append(rec)

  def med(recs, field):
    xs = [x[field] for x in recs if x.get(field) is not None]
    return statistics.median(xs) if xs else None

  table = {}
  for batch, by_key in results.items():
    table[str(batch)] = {k: dict(env_steps_per_s=med(v, 'env_steps_per_s'), compile_s=med(v, 'compile_s'),
                                 reset_compile_s=med(v, 'reset_compile_s'), rounds=len(v),
                                 errors=[x['error'] for x in v if 'error' in x] or None)
                         for k, v in by_key.items()}
  ratios, target, compile_ratios = {}, {}, {}
  for b, row in table.items():
    g = row.get('gambol/rigid:physics', {}).get('env_steps_per_s')
    ratios[b] = {f'gambol/{k}': ratio(g, v['env_steps_per_s']) for k, v in row.items() if not k.startswith('gambol')}
    gc = row.get('gambol/rigid:physics', {}).get('compile_s')
    # peer compile / gambol compile (> 1: gambol compiles faster); target: >= 1 against brax 0.0.16
    compile_ratios[b] = {f'{k}/gambol': ratio(v['compile_s'], gc) for k, v in row.items()
                         if not k.startswith('gambol') and gc and v.get('compile_s')}
    if int(b) in TARGET_BATCHES:
      x = ratios[b].get(f'gambol/{ANCHOR}')
      target[b] = None if x is None else x >= TARGET_RATIO
  machine['load_avg_end'] = list(os.getloadavg())
  notes += ['env steps/s: batch x steps / median call of one jitted lax.scan of step_batch (gambol) / vmap(step), fixed actions; '
            'compile timed apart (lower+compile); median over rounds of per-process medians',
            'gambol is physics only (rigid.step); brax "env" adds observation/reward/done, "physics" does not',
            'brax 0.0.16 runs on jax 0.4.35 (v1) or 0.10.1 (v1j10, the same jax as gambol), the others on '
            'jax 0.10.1: ratios vs v1 include a JAX-version effect (jax 0.4.35 compiles in one LLVM module)',
            'shared 2-core VM: figures are noisy; load averages are in every measurement line']
  print(json.dumps(dict(benchmark='rigid', kind='summary', quick=q, batches=batches, rounds=rounds,
                        repeats=repeats, peers=peers, substeps_brax_0_14=args.substeps, table=table,
                        ratios=ratios, compile_ratios=compile_ratios, target=dict(rule=f'gambol >= {TARGET_RATIO} x {ANCHOR} at batch 128 and 1024',
                                                   met=target),
                        wall_s=time.perf_counter() - t_start, machine=machine, notes=notes,
                        command=' '.join(['python'] + sys.argv))), flush=True)

  f = lambda x, spec: '-' if x is None else format(x, spec)  # noqa: E731
  print(f'\n{"library:what":<36} {"batch":>6} {"env steps/s":>12} {"compile s":>10} {"gambol/this":>11}',
        file=sys.stderr)
  for b, row in table.items():
    for k, v in row.items():
      err = f'  ERROR {v["errors"][0]}' if v['errors'] else ''
      print(f'{k:<36} {b:>6} {f(v["env_steps_per_s"], ",.0f"):>12} {f(v["compile_s"], ".1f"):>10}'
            f' {f(ratios[b].get("gambol/" + k), ".2f"):>11}{err}', file=sys.stderr)
  print(f'target {TARGET_RATIO}x {ANCHOR} at batch 128/1024: {target or "no gambol figure"}', file=sys.stderr)
  print(f'load average {machine["load_avg_start"][0]:.2f} -> {machine["load_avg_end"][0]:.2f} on '
        f'{machine["nproc"]} cores: shared machine, figures are noisy; compare ratios of one run', file=sys.stderr)


if __name__ == '__main__':
  main()
