"""Pieces every benchmark script shares: the machine description and the peers' venvs.

Standard library only, so it also imports inside a peer's venv.
"""
import datetime
import json
import os
import platform
import subprocess
import sys
import time

# pip lines of each peer's venv under $ANCHORS (installed in order)
PEERS = {'jaxmd': [['jax-md==0.2.29']],
         'vmas': [['torch==2.13.0+cpu'], ['vmas==1.5.2']],
         # brax 0.0.16 (Dec 2022, the spring engine of the Brax paper) pins nothing that installs on
         # Python 3.11: brax alone without deps, then what its envs import, on jax 0.4.35
         'braxv1': [['--no-deps', 'brax==0.0.16'],
                    ['jax==0.4.35', 'jaxlib==0.4.35', 'flax==0.10.2', 'optax==0.2.4', 'numpy==1.26.4',
                     'gym==0.26.2', 'dm-env', 'absl-py', 'protobuf', 'tensorboardX', 'typing-extensions',
                     'PyYAML', 'Pillow', 'trimesh==3.9.35']],
         # the same brax 0.0.16 on the jax of gambol's venv: runs with two import-time shims (see
         # benchmarks/_rigid_brax_v1.py); jax 0.10.1 draws other random bits than 0.4.35 (threefry
         # partitionable), so its action sequences differ
         'braxv1_jax010': [['--no-deps', 'brax==0.0.16'],
                           ['jax==0.10.1', 'jaxlib==0.10.1', 'flax==0.12.8', 'optax==0.2.8', 'numpy==2.4.6',
                            'gym==0.26.2', 'dm-env', 'absl-py', 'protobuf', 'tensorboardX',
                            'typing-extensions', 'PyYAML', 'Pillow', 'trimesh==3.9.35']],
         # MuJoCo's own C engine through gymnasium's Ant-v5 (CPU, one process)
         'mujoco': [['mujoco==4.0.0', 'gymnasium[mujoco]==1.4.0']],
         'brax': [['brax==0.14.2', 'jax==0.10.1', 'jaxlib==0.10.1', 'mujoco==4.0.0',
                   'mujoco-mjx==3.17.0']]}

# where the peers' venvs live: $ANCHORS, else $TMPDIR/anchors, else /tmp/anchors
DEFAULT_ANCHORS = os.environ.get('ANCHORS', os.path.join(os.environ.get('TMPDIR') or '/tmp', 'anchors'))


def machine_info(**extra):
  """Date, CPU model, usable cores, Python, kernel and load average, plus `extra`."""
  model = 'unknown'
  try:
    with open('/proc/cpuinfo') as f:
      model = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')), model)
  except OSError:
    pass
  return dict(date=datetime.datetime.now().isoformat(timespec='seconds'), cpu_model=model,
              nproc=len(os.sched_getaffinity(0)), python=platform.python_version(),
              kernel=platform.release(), load_avg_start=list(os.getloadavg()), **extra)


def peer_python(anchors, name, create=True):
  """The interpreter of venv $ANCHORS/name; created with the pip lines of PEERS[name] if missing
  and `create` is true, else None when missing."""
  venv = os.path.join(anchors, name)
  py = os.path.join(venv, 'bin', 'python')
  if os.path.exists(py):
    return py
  if not create:
    return None
  print(f'# creating {venv}', file=sys.stderr, flush=True)
  subprocess.run(['python3', '-m', 'venv', venv], check=True)
  for p in PEERS[name]:
    r = subprocess.run([py, '-m', 'pip', 'install', '-q'] + p)
    if r.returncode != 0 and p[0].startswith('torch'):   # no local CPU wheel: the PyPI one
      subprocess.run([py, '-m', 'pip', 'install', '-q', 'torch==2.13.0'], check=True)
    elif r.returncode != 0:
      raise RuntimeError(f'pip install {p} failed in {venv}')
  return py


def run_sub(cmd, timeout, cwd=None):
  """One measurement process (JAX_PLATFORMS=cpu, run in `cwd`, default this folder); its
  `RESULT {json}` lines, each with the process wall time and the 1-min load average before and
  after, or one error dict."""
  t0 = time.perf_counter()
  load = os.getloadavg()[0]
  try:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, JAX_PLATFORMS='cpu'),
                       cwd=cwd or os.path.dirname(os.path.abspath(__file__)))
  except subprocess.TimeoutExpired:
    return [dict(error=f'timeout after {timeout} s')]
  lines = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
  if p.returncode != 0 or not lines:
    return [dict(error=f'rc={p.returncode}', stderr_tail=p.stderr[-2000:])]
  wall = time.perf_counter() - t0
  return [dict(json.loads(l[len('RESULT '):]), process_wall_s=wall, load_avg_1min=[load, os.getloadavg()[0]])
          for l in lines]


def jsonl_emitter(file, records):
  """`emit(record)`: append `record` to the list `records`, print it as one JSON line and write
  that line to the open text `file` (flushed, so a killed run keeps what it measured)."""
  def emit(record):
    records.append(record)
    line = json.dumps(record)
    print(line, flush=True)
    file.write(line + '\n')
    file.flush()
  return emit


def ratio(a, b):
  """a / b, or None when either is missing or zero."""
  return a / b if a and b else None


def time_env_scan(reset_one, step_one, action_size, batch, steps, repeats, seed=0, step_batch=None):
  """Throughput of `steps` env steps of `batch` envs in one jitted `lax.scan` (jax imported here,
  so this module still imports without jax).

  reset_one(key) -> state of one env; step_one(state, action: [action_size]) -> state; both are
  vmapped over `batch`, unless `step_batch(states, actions: [batch, action_size])` is given (a
  library's own batched step, e.g. gambol's batch-minor `rigid.step_batch`). The actions are drawn once, uniform in [-1, 1] ([steps, batch,
  action_size], seed `seed`), and the same sequence is replayed by every call, the state carried
  on. Compile (`jit(...).lower(...).compile()`) is timed apart from running; one untimed call,
  then `repeats` timed calls ending in block_until_ready. Returns the figures and the final
  batched state.
  """
  import statistics
  import time

  import jax
  import numpy as np

  actions = jax.random.uniform(jax.random.PRNGKey(seed), (steps, batch, action_size),
                               minval=-1.0, maxval=1.0)
  keys = jax.random.split(jax.random.PRNGKey(seed + 1), batch)
  vstep = step_batch or jax.vmap(step_one)

  def rollout(state, actions):
    return jax.lax.scan(lambda s, a: (vstep(s, a), None), state, actions)[0]

  t0 = time.perf_counter()
  reset = jax.jit(jax.vmap(reset_one)).lower(keys).compile()
  reset_compile_s = time.perf_counter() - t0
  state = jax.block_until_ready(reset(keys))
  t0 = time.perf_counter()
  run = jax.jit(rollout).lower(state, actions).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  state = jax.block_until_ready(run(state, actions))
  first_call_s = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    state = jax.block_until_ready(run(state, actions))
    times.append(time.perf_counter() - t0)
  median = statistics.median(times)
  floats = [np.asarray(x) for x in jax.tree.leaves(state)
            if np.issubdtype(np.asarray(x).dtype, np.floating)]
  return dict(batch=batch, steps_per_call=steps, repeats=repeats, reset_compile_s=reset_compile_s,
              compile_s=compile_s, first_call_s=first_call_s, call_times_s=times,
              median_call_s=median, env_steps_per_s=batch * steps / median,
              all_finite=all(bool(np.all(np.isfinite(x))) for x in floats),
              jax=jax.__version__, backend=jax.default_backend()), state


class CompileClock:
  """jax's own compile timings (its monitoring events: tracing, lowering to MLIR, backend
  compile), collected from construction on, so a trainer's compile can be read off without
  hooks into it. `mark()` opens a window; `largest_since_mark()` is the longest single compile
  in the window (the events up to and including one backend compile, summed), in seconds, and
  `total_since_mark()` every compile second in it."""

  def __init__(self):
    import jax
    self.events = []
    self.start = 0
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, seconds, **_: self.events.append((name, seconds))
        if name.startswith('/jax/core/compile/') else None)

  def mark(self):
    self.start = len(self.events)

  def compiles_since_mark(self):
    groups, current = [], 0.0
    for name, seconds in self.events[self.start:]:
      current += seconds
      if name.endswith('backend_compile_duration'):
        groups.append(current)
        current = 0.0
    return groups

  def largest_since_mark(self):
    return max(self.compiles_since_mark(), default=None)

  def total_since_mark(self):
    return sum(seconds for _, seconds in self.events[self.start:])
