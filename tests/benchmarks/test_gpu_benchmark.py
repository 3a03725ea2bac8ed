"""benchmarks/gpu.py at CPU sizes (--tiny), so that the GPU run is ready when a GPU is."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_gpu_benchmark_runs_every_workload_at_tiny_sizes(tmp_path):
    p = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'gpu.py'), '--tiny', '--no-peers',
                        '--out', str(tmp_path)], capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / 'gpu.jsonl').read_text().splitlines()]
    errors = [r for r in records if 'error' in r or 'skipped' in r]
    assert not errors, errors
    by = {r['workload']: r for r in records}
    assert set(by) == {'machine', 'rigid', 'boids', 'flock', 'lj', 'ppo'}
    assert by['machine']['backend'] == 'cpu'
    rigid = by['rigid']
    assert rigid['env'] == 'ant' and rigid['batch'] == 4 and rigid['all_finite'] and rigid['env_steps_per_s'] > 0
    assert by['boids']['N'] == 200 and not by['boids']['overflow'] and by['boids']['ms_per_step'] > 0
    assert by['flock']['agent_steps_per_s'] > 0 and not by['flock']['overflow']
    lj = by['lj']
    # NVE: the energy per particle is conserved over the timed steps
    assert abs(lj['E_per_particle_end'] - lj['E_per_particle_start']) < 1e-2 and not lj['overflow']
    ppo = by['ppo']
    steps = [s for s, _, _ in ppo['progress']]
    assert steps[0] == 0 and steps[-1] >= 64 and ppo['wall_to_target_s'] is None
    table = (tmp_path / 'gpu.md').read_text()
    for row in ('| rigid | env ant, batch 4 |', '| boids | N 200 |', '| lj | N 216 |', 'PPO on ant'):
        assert row in table
