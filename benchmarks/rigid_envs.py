"""Env speed: gambol's five rigid-body envs vs brax 0.0.16's same envs, brax 0.14.2 and MuJoCo.

What is measured (float32, CPU, one process per measurement):
  env steps/s = batch x steps / median call time of ONE jitted `lax.scan` over `steps` env steps
  of `vmap(env.step)`, driven by a fixed action sequence (uniform in [-1, 1], drawn once with seed
  0, replayed every call, the state carried on; benchmarks/_common.py `time_env_scan`). The
  compile of that function (`jit(...).lower(...).compile()`) is timed apart ("compile s"), then
  one untimed call, then the median of `repeats` timed calls (block_until_ready). No episode or
  auto-reset wrappers, so no resets inside the timing (a terminated env keeps being stepped).
  gambol        `gambol.envs.create(name, episode_length=None, auto_reset=False)`, i.e. the bare
                env: `env.step` = physics + observation + reward + done (and the check that keeps
                a finished episode absorbing), for ant, halfcheetah, humanoid, grasp, fetch.
  brax 0.0.16   the paper-era suite on its spring engine: `brax.envs._envs[name](legacy_spring=True)`
                (`env.step`), same five envs (benchmarks/_rigid_brax_v1.py). The anchor ("v1")
                runs on jax 0.10.1, the jax of gambol's venv (venv $ANCHORS/braxv1_jax010, two
                import-time shims, physics untouched); "v1-jax0.4" is the same on jax 0.4.35
                (venv $ANCHORS/braxv1), which brax 0.0.16 was pinned near.
  brax 0.14.2   `get_environment(name, backend=B)` as shipped for B in spring, positional,
                generalized; ant and humanoid only (benchmarks/_rigid_brax.py, jax 0.10.1).
  MuJoCo        `gymnasium.make('Ant-v5')` on MuJoCo's C engine: one env, one process, CPU, a fixed
                random action sequence, a few thousand `env.step` calls with a reset whenever an
                episode ends (benchmarks/_rigid_mujoco.py). Also "physics": `mj_step` alone.
Each env runs at its own published dt and frame count (substeps per env step); the env dt is the
same in every library, the substeps are each library's own:
  env          gambol            brax 0.0.16         brax 0.14.2 spring, positional | generalized  MuJoCo
  ant          0.05 = 10 x 0.005  0.05 = 10 x 0.005   10 x 0.005 | 5 x 0.01                     5 x 0.01
  halfcheetah  0.05 = 16 x 0.003125 (v2; both)
  humanoid     0.015 = 8 x 0.001875 (both)            10 x 0.0015 | 5 x 0.003
  grasp        0.02 = 4 x 0.005 (both)
  fetch        0.02 = 4 x 0.005 (both)
(gambol: envs/assets/<name>.toml; every measurement line also records dt, substeps, obs and
action sizes, done fraction and max |position| at the end as a sanity check.)
Env steps per call: 100 at batch 1, 40 at 128, 10 at 1024 (a quarter with --quick); repeats 5
(twice that at batch 1; --quick 3). MuJoCo: 3000 steps x 3 blocks (--quick 500).
Rounds alternate the libraries (gambol, peer, peer, ... per env and batch, then the next) so that a
change of load on the shared machine hits every library alike; per library, env and batch the
median over rounds is reported, and ratios gambol / peer (> 1: gambol faster) are of those medians.
Ratios and targets: every env, gambol / brax 0.0.16 (jax 0.10.1) at batch 1024 >= 2; gambol
ant at its best batch / MuJoCo Ant-v5 >= 3 (also shown: gambol ant at batch 1 / MuJoCo, one env
each); gambol ant and humanoid / each brax 0.14.2 backend.
Peers live in venvs under $ANCHORS (default ${TMPDIR:-/tmp}/anchors), created if missing with the
pip lines of benchmarks/_common.py PEERS ('braxv1_jax010', 'braxv1', 'brax', 'mujoco'); nothing is
installed into gambol's venv.

Run (from the repository root):
  .venv/bin/python benchmarks/rigid_envs.py           # full: batches 1, 128, 1024, 2 rounds, all peers
  .venv/bin/python benchmarks/rigid_envs.py --quick   # ant, humanoid at 128; 1 round; v1 + MuJoCo
  .venv/bin/python benchmarks/rigid_envs.py --envs ant,humanoid --peers v1,spring --batches 1024
  # before/after a change, in one run: the previous commit in a venv of its own
  git worktree add /tmp/before HEAD~1 && python3 -m venv /tmp/bv && /tmp/bv/bin/pip install -r requirements.lock \
    && /tmp/bv/bin/pip install --no-deps -e /tmp/before
  .venv/bin/python benchmarks/rigid_envs.py --peers v1 --batches 1024 --baseline /tmp/bv/bin/python
Output (stdout): one JSON line per measurement, then one summary JSON line (medians, ratios,
targets, machine). A table goes to stderr. The machine is a shared 2-core VM: single figures are
noisy (+-30% or worse under load); compare ratios of one run.
Run time (2026-11-22, load average 12-16 on 2 cores): --quick 3.7 min; one full round
(`--rounds 1`, 52 processes) 66 min; the default 2 rounds about twice that. Every process
compiles for 5-35 s (gambol's humanoid and grasp the longest), brax 0.14.2's positional and
generalized humanoid 60 s, its spring humanoid 711 s once (hence --timeout 1800).
"""
import argparse
import json
import os
import pathlib
import statistics
import sys
import time

from _common import DEFAULT_ANCHORS, machine_info, peer_python, ratio, run_sub, time_env_scan

HERE = pathlib.Path(__file__).resolve().parent
ENVS = ('ant', 'halfcheetah', 'humanoid', 'grasp', 'fetch')
V2_BACKENDS = ('spring', 'positional', 'generalized')
V2_ENVS = ('ant', 'humanoid')
ALL_PEERS = ('v1', 'v1-jax0.4') + V2_BACKENDS + ('mujoco',)
VENVS = {'v1': 'braxv1_jax010', 'v1-jax0.4': 'braxv1', 'v2': 'brax', 'mujoco': 'mujoco'}
LABELS = {'v1': 'brax0.0.16/jax0.10.1', 'v1-jax0.4': 'brax0.0.16/jax0.4.35',
          **{b: f'brax0.14.2/{b}' for b in V2_BACKENDS}, 'mujoco': 'mujoco/Ant-v5'}
GAMBOL = 'gambol'
ANCHOR = LABELS['v1']
TARGET_V1, TARGET_V1_BATCH = 2.0, 1024       # every env: gambol >= 2 x brax 0.0.16 at batch 1024
BASELINE = 'gambol-baseline'                 # --baseline: the same measurement with another gambol
TARGET_MUJOCO = 3.0                          # ant: gambol's best batch >= 3 x MuJoCo Ant-v5


def steps_for(batch, quick):
  """Env steps per scan: a call takes roughly 0.05-3 s on this machine."""
  steps = 100 if batch == 1 else 40 if batch <= 128 else 10
  return max(4, steps // 4) if quick else steps


def measure_gambol(name, batch, steps, repeats):
  """env steps/s of the bare gambol env `name` (env.step: physics, observation, reward, done)."""
  import numpy as np

  import gambol.envs
  env = gambol.envs.create(name, episode_length=None, auto_reset=False)
  action_size = int(env.action_spec.shape[0])
  info, state = time_env_scan(env.reset, env.step, action_size, batch, steps, repeats,
                              step_batch=getattr(env, 'step_batch', None))
  system = env.unwrapped.sys if hasattr(env, 'unwrapped') else env.sys
  info.update(lib='gambol', backend='rigid', what='env', env=name, dt=float(system.dt),
              substeps=int(system.substeps), obs_size=int(env.observation_spec.shape[0]),
              action_size=action_size, done_fraction=float(np.mean(np.asarray(state.done))),
              max_abs_position=float(np.max(np.abs(np.asarray(state.pipeline_state.pos)))))
  info['physics_substeps_per_s'] = info['env_steps_per_s'] * info['substeps']
  info['gambol_source'] = source_commit(gambol.__file__)
  return info


def source_commit(path):
  """The git commit (with '+changes' when the tree differs from it) of the checkout holding
  `path`, or None outside a checkout."""
  import subprocess
  where = os.path.dirname(os.path.abspath(path))
  git = lambda *a: subprocess.run(['git', '-C', where, *a], capture_output=True, text=True)  # noqa: E731
  head = git('rev-parse', '--short', 'HEAD')
  if head.returncode != 0:
    return None
  dirty = git('status', '--porcelain', '--untracked-files=no').stdout.strip()
  return head.stdout.strip() + ('+changes' if dirty else '')


def median_of(recs, field):
  xs = [x[field] for x in recs if x.get(field) is not None]
  return statistics.median(xs) if xs else None


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--envs', default=None, help=f'default {",".join(ENVS)} (--quick: ant,humanoid)')
  ap.add_argument('--batches', default=None, help='default 1,128,1024 (--quick: 128)')
  ap.add_argument('--v2-batches', default='1024',
                  help='batches of the brax 0.14.2 backends (each of its processes compiles 30-200 s)')
  ap.add_argument('--peers', default=None,
                  help=f'comma-separated subset of {",".join(ALL_PEERS)} (default all; --quick: v1,mujoco)')
  ap.add_argument('--no-gambol', action='store_true')
  ap.add_argument('--baseline', default=None, metavar='PYTHON',
                  help=f'also measure the gambol that this interpreter imports (e.g. a venv with the previous '
                       f'commit installed), as "{BASELINE}", alternating with the others')
  ap.add_argument('--quick', action='store_true', help='ant and humanoid at batch 128, 1 round, short scans, v1 + MuJoCo')
  ap.add_argument('--rounds', type=int, default=None, help='alternating rounds (default 2; --quick 1)')
  ap.add_argument('--repeats', type=int, default=None, help='timed calls per process (default 5; --quick 3)')
  ap.add_argument('--mujoco-steps', type=int, default=None, help='Ant-v5 steps per timed block (default 3000; --quick 500)')
  ap.add_argument('--anchors', default=DEFAULT_ANCHORS, help='folder of the peer venvs')
  ap.add_argument('--timeout', type=float, default=1800, help='seconds per measurement process')
  ap.add_argument('--worker', nargs=4, metavar=('ENV', 'BATCH', 'STEPS', 'REPEATS'), help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args.worker:
    name, (batch, steps, repeats) = args.worker[0], (int(x) for x in args.worker[1:])
    print('RESULT ' + json.dumps(measure_gambol(name, batch, steps, repeats)), flush=True)
    return

  q = args.quick
  envs = (args.envs or ('ant,humanoid' if q else ','.join(ENVS))).split(',')
  batches = [int(b) for b in (args.batches or ('128' if q else '1,128,1024')).split(',')]
  v2_batches = [int(b) for b in args.v2_batches.split(',')]
  rounds = args.rounds or (1 if q else 2)
  repeats = args.repeats or (3 if q else 5)
  mujoco_steps = args.mujoco_steps or (500 if q else 3000)
  peers = (args.peers or ('v1,mujoco' if q else ','.join(ALL_PEERS))).split(',')
  for what, given, known in (('--envs', envs, ENVS), ('--peers', peers, ALL_PEERS)):
    unknown = sorted(set(given) - set(known))
    if unknown:
      ap.error(f'{what}: unknown {unknown}; expected a subset of {list(known)}')
  pythons = {}
  for p in peers:
    venv = VENVS['v2' if p in V2_BACKENDS else p]
    pythons[p] = peer_python(args.anchors, venv)
  import jax
  machine = machine_info(jax=jax.__version__)
  t_start = time.perf_counter()

  def emit(rec):
    print(json.dumps(dict(benchmark='rigid_envs', kind='measurement', **rec)), flush=True)

  def commands(name, batch):
    """(label, command) per library for one env and batch, in the alternation order."""
    steps, rep = str(steps_for(batch, q)), str(repeats if batch > 1 else 2 * repeats)
    out = []
    if not args.no_gambol:
      out.append((GAMBOL, [sys.executable, str(HERE / 'rigid_envs.py'), '--worker', name, str(batch), steps, rep]))
    if args.baseline:
      out.append((BASELINE, [args.baseline, str(HERE / 'rigid_envs.py'), '--worker', name, str(batch), steps, rep]))
    for p in peers:
      if p in ('v1', 'v1-jax0.4'):
        out.append((LABELS[p], [pythons[p], str(HERE / '_rigid_brax_v1.py'), str(batch), steps, rep, 'env', name]))
      elif p in V2_BACKENDS and name in V2_ENVS and batch in v2_batches:
        out.append((LABELS[p], [pythons[p], str(HERE / '_rigid_brax.py'), p, str(batch), steps, rep, 'env',
                                'native', name]))
      elif p == 'mujoco' and name == 'ant' and batch == min(batches):     # one env: once per round
        out.append((LABELS[p], [pythons[p], str(HERE / '_rigid_mujoco.py'), str(mujoco_steps), '3',
                                'env,physics']))
    return out

  results = {}      # env -> batch -> 'label:what' -> records over rounds
  for r in range(rounds):
    for batch in batches:
      for name in envs:
        for label, cmd in commands(name, batch):
          print(f'# round {r + 1}/{rounds} batch {batch} {name} {label}', file=sys.stderr, flush=True)
          for rec in run_sub(cmd, args.timeout):
            what = rec.get('what', 'error')
            rec = dict(rec, label=label, round=r, batch=rec.get('batch', batch), env=name)
            emit(rec)
            key = label if what == 'env' or 'error' in rec else f'{label}:{what}'
            row = 1 if label.startswith('mujoco') else batch
            results.setdefault(name, {}).setdefault(row, {}).setdefault(key, []).append(rec)

  table = {name: {str(b): {k: dict(env_steps_per_s=median_of(v, 'env_steps_per_s'),
                                   physics_substeps_per_s=median_of(v, 'physics_substeps_per_s'),
                                   compile_s=median_of(v, 'compile_s'),
                                   reset_compile_s=median_of(v, 'reset_compile_s'), rounds=len(v),
                                   substeps=v[0].get('substeps'), dt=v[0].get('dt'),
                                   errors=[x['error'] for x in v if 'error' in x] or None)
                           for k, v in row.items()} for b, row in by_batch.items()}
           for name, by_batch in results.items()}

  def rate(name, batch, label):
    return table.get(name, {}).get(str(batch), {}).get(label, {}).get('env_steps_per_s')

  ratios = {name: {b: {f'gambol/{k}': ratio(row.get(GAMBOL, {}).get('env_steps_per_s'), v['env_steps_per_s'])
                       for k, v in row.items() if k != GAMBOL and not k.startswith('mujoco')}
                   for b, row in by_batch.items()} for name, by_batch in table.items()}
  targets = {}
  tb = TARGET_V1_BATCH if TARGET_V1_BATCH in batches else max(batches)   # --quick: its largest batch
  for name in envs:
    x = ratio(rate(name, tb, GAMBOL), rate(name, tb, ANCHOR))
    targets[f'{name}: gambol / {ANCHOR} at batch {tb} >= {TARGET_V1}'] = dict(
        ratio=x, met=None if x is None else x >= TARGET_V1)
  mj = rate('ant', 1, LABELS['mujoco'])
  gambol_ant = {b: rate('ant', b, GAMBOL) for b in batches if rate('ant', b, GAMBOL)}
  if mj and gambol_ant:
    best = max(gambol_ant, key=gambol_ant.get)
    x = ratio(gambol_ant[best], mj)
    targets[f'ant: gambol (best batch) / {LABELS["mujoco"]} >= {TARGET_MUJOCO}'] = dict(
        ratio=x, best_batch=best, met=x >= TARGET_MUJOCO,
        batch1_ratio=ratio(gambol_ant.get(1), mj))
  machine['load_avg_end'] = list(os.getloadavg())
  notes = ['env steps/s: batch x steps / median call of one jitted lax.scan of vmap(env.step), fixed actions; '
           'compile timed apart (lower+compile); median over rounds of per-process medians',
           'every library runs each env at its published dt and substeps (same env dt; substeps differ: '
           'halfcheetah gambol 10, brax 0.0.16 16; brax 0.14.2 and MuJoCo their own)',
           'MuJoCo: one env in one process (gymnasium Ant-v5 env.step incl. its resets), batch column 1',
           'shared 2-core VM: figures are noisy; load averages are in every measurement line']
  print(json.dumps(dict(benchmark='rigid_envs', kind='summary', quick=q, envs=envs, batches=batches,
                        v2_batches=v2_batches, rounds=rounds, repeats=repeats, peers=peers, table=table,
                        ratios=ratios, targets=targets, wall_s=time.perf_counter() - t_start,
                        machine=machine, notes=notes, command=' '.join(['python'] + sys.argv))), flush=True)

  f = lambda x, spec: '-' if x is None else format(x, spec)  # noqa: E731
  print(f'\n{"env":<12} {"batch":>6} {"library":<30} {"substeps":>8} {"env steps/s":>12} {"compile s":>10}'
        f' {"gambol/this":>11}', file=sys.stderr)
  for name, by_batch in table.items():
    for b, row in sorted(by_batch.items(), key=lambda kv: int(kv[0])):
      for k, v in row.items():
        err = f'  ERROR {v["errors"][0]}' if v['errors'] else ''
        print(f'{name:<12} {b:>6} {k:<30} {f(v["substeps"], "d"):>8} {f(v["env_steps_per_s"], ",.0f"):>12}'
              f' {f(v["compile_s"], ".1f"):>10} {f(ratios[name][b].get("gambol/" + k), ".2f"):>11}{err}',
              file=sys.stderr)
  for k, v in targets.items():
    print(f'target {k}: ratio {f(v["ratio"], ".2f")} met {v["met"]}', file=sys.stderr)
  print(f'load average {machine["load_avg_start"][0]:.2f} -> {machine["load_avg_end"][0]:.2f} on '
        f'{machine["nproc"]} cores: shared machine, figures are noisy; compare ratios of one run', file=sys.stderr)


if __name__ == '__main__':
  main()
