"""Pieces every benchmark script shares: the machine description and the peers' venvs.

Standard library only, so it also imports inside a peer's venv.
"""
import datetime
import os
import platform
import subprocess
import sys

# pip lines of each peer's venv under $ANCHORS (installed in order)
PEERS = {'jaxmd': [['jax-md==0.2.29']],
         'vmas': [['torch==2.13.0+cpu'], ['vmas==1.5.2']]}


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
