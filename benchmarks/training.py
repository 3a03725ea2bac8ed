"""Training: gambol's PPO, SAC, ES and APG against brax 0.14.2's, in one run, on this machine's CPU.

What is measured (float32, CPU, single seed; one JSON line per run, then one summary line):
  compile s     the compile of ONE training iteration (the jitted function holding the scan of
                rollout + SGD steps), read the same way on both sides from jax's own compile
                events (benchmarks/_common.py CompileClock: tracing + lowering + backend compile
                of one jitted function): the longest single compile between the evaluation of the
                untrained policy and the next one. Both sides run jax 0.10.1. Also kept:
                `compile_window_s` (every compile second in that window: brax SAC's prefill, say),
                gambol's own `training/compile_seconds` (its `lower().compile()`, timed by the
                trainer) and brax's first-minus-second epoch time (noisy under load). Ratio
                brax / gambol (> 1: gambol compiles faster). Target: >= 1.
  reward curves the deterministic policy's mean eval episode return after each training iteration
                (brax with deterministic_eval=True, its default is a sampled policy),
                against env steps and against wall seconds since the `train` call (compile, prefill
                and evaluations included, as brax's own progress timing does).
  ppo    gambol PPO on `ant` (the Brax paper's ant, obs 87, act 8) vs brax PPO on its spring `ant`
         (obs 27, act 8; a different MJCF ant with its own reward, so returns are comparable in
         scale, not equal). brax's published ant settings (reward_scaling 10, episode 1000,
         unroll 5, 32 minibatches, 4 epochs, discount 0.97, lr 3e-4, entropy 1e-2, policy 4x32,
         value 5x256, normalised observations) with 512 envs and batch 256 (published 4096/2048,
         scaled to 2 cores); gambol the same numbers where they map: 512 envs x unroll 80 = the
         same 40,960 samples per update, 32 minibatches of 1,280, 4 epochs, clip 0.3, no gradient
         clip (brax's defaults). Target: brax's final eval reward reached in <= 2/3 of brax's
         wall time ("time-to-brax-final" ratio).
  sac    gambol SAC on `halfcheetah` (paper-era, obs 25, act 7) vs brax SAC on its spring
         `halfcheetah` (obs 17, act 6): 64 envs, batch 256, 32 SGD steps per env step, lr 6e-4,
         discount 0.997, 8,192 random prefill steps, 2x256 networks, 200k env steps.
  es     gambol ES vs brax ES on ant: 256 perturbed policies (brax: population 128 + antithetic),
         sigma 0.1, Adam 1e-3, normalised observations, policy 4x32, 1,000-step episodes. brax
         counts only steps before termination, gambol counts whole episodes.
  es_cheetah  the same ES settings on halfcheetah (gambol's paper-era one vs brax's spring one):
         no survival bonus there, so the return measures running (an ant that only stands
         collects ant's 1 per step healthy reward on both sides).
  apg    gambol APG on `point_reacher` (a smooth point-mass reacher, obs 6) vs brax APG on its
         spring `reacher` (a two-link arm, obs 11): 64 envs, horizon 32, 400 gradient steps, lr
         1e-3, policy 4x32, normalised observations. Different tasks: compare shapes of curves.
         Plus gambol APG on `flock` (32 boids; brax has no flock).
  flock  gambol multi-agent PPO on `flock` (32 boids, one shared policy, alignment_reward 1), then the learned boids'
         polarisation, mean nearest-neighbour distance and collision count (steps 100-200 of
         200-step episodes, 16 episodes) against the energy model (`boids`, same box and count)
         and uniformly random actions.
Each comparison runs gambol (in this process) and brax (a subprocess in $ANCHORS/brax, brax 0.14.2,
jax 0.10.1, created if missing from benchmarks/_common.py PEERS['brax']) back to back, so both see
similar load; the machine is shared (2 cores, other jobs running): wall figures are +-30% or worse.

Run (from the repository root):
  .venv/bin/python benchmarks/training.py --quick            # compile times + tiny budgets
  .venv/bin/python benchmarks/training.py --only ppo,sac      # full budgets of some comparisons
  .venv/bin/python benchmarks/training.py                     # everything (see run time below)
  .venv/bin/python benchmarks/training.py --only ppo --scale 0.25   # a quarter of every budget
  --no-brax skips the peer; --out names the folder for curves.png and results.jsonl (default
  outputs/bench/training, or outputs/bench/training_quick).
  --baseline PYTHON: also run each gambol comparison with the gambol that PYTHON imports (a venv
  of an earlier commit, say: `git worktree add /tmp/gambol_before HEAD`, then a venv there with
  `pip install -r requirements.lock` and `pip install --no-deps -e .`), as "gambol-baseline";
  both sides then run as subprocesses of this script, alternating for --rounds rounds (default
  2, the order swapped each round) so machine load hits both alike. SUMMARY adds `baseline`:
  per comparison the medians over rounds of compile s and of steps/s (each run's median over its
  iterations), of compile and iteration process-CPU seconds (less disturbed by other jobs than
  wall seconds; see cpu_figures), and the ratios this gambol / baseline.
    .venv/bin/python benchmarks/training.py --quick --only ppo,sac --no-brax \
        --baseline /tmp/gambol_before/.venv/bin/python
Output: one JSON line per run on stdout (progress = [step, wall s, eval reward] per evaluation),
then `SUMMARY {json}` with the compile ratios, final rewards, time-to-brax-final ratios and flock
figures; a readable table on stderr; reward curves (reward vs wall s and vs env steps) in
OUT/curves.png.
Run time, measured 2026-11-22 with load averages of 8-19 on the 2 cores (other jobs): --quick took
about 40 min (each brax process spends 1-3 min compiling and in its first evaluation; each
gambol run 0.5-2.5 min); `--only ppo --scale 0.25` 12.5 min for gambol and 9.5 min for brax. A
full run was not affordable under that load; at brax's quoted unloaded speed (PPO ant 2.1M steps in
270 s, SAC 200k in 344 s, ES 3.1M in 316 s, APG 400 updates in 141 s) it is about 40 min per
library, so 1.5 h or more.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

from _common import DEFAULT_ANCHORS, CompileClock, jsonl_emitter, machine_info, peer_python

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
ALGOS = ('ppo', 'sac', 'es', 'apg', 'flock')
EXTRA = ('apg_flock', 'es_cheetah')      # comparisons beyond one per algorithm
TIME_TARGET = 2 / 3          # gambol reaches brax's final ppo reward in <= 2/3 of brax's wall time
BASELINE = 'gambol-baseline'   # --baseline: the same gambol runs with another gambol

# -- settings: gambol (trainer, env, num_timesteps, kwargs, env_kwargs) and brax (algo, env, kwargs)

PPO_ANT = dict(reward_scaling=10.0, episode_length=1000, unroll_length=80, num_minibatches=32,
               update_epochs=4, discount=0.97, gae_lambda=0.95, learning_rate=3e-4,
               entropy_coef=1e-2, clip_eps=0.3, max_grad_norm=1e9, value_coef=0.5, num_envs=512,
               policy_hidden=(32,) * 4, value_hidden=(256,) * 5, normalize_observations=True)
BRAX_PPO_ANT = dict(reward_scaling=10, episode_length=1000, normalize_observations=True,
                    action_repeat=1, unroll_length=5, num_minibatches=32, num_updates_per_batch=4,
                    discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2, num_envs=512,
                    batch_size=256, seed=1, deterministic_eval=True)
SAC_CHEETAH = dict(num_envs=64, batch_size=256, grad_updates_per_step=32, learning_rate=6e-4,
                   alpha_learning_rate=6e-4, discount=0.997, reward_scaling=1.0,
                   min_replay_size=8192, episode_length=1000, normalize_observations=True,
                   policy_hidden=(256, 256), q_hidden=(256, 256))
BRAX_SAC_CHEETAH = dict(episode_length=1000, normalize_observations=True, action_repeat=1,
                        discounting=0.997, learning_rate=6e-4, num_envs=64, batch_size=256,
                        grad_updates_per_step=32, max_devices_per_host=1,
                        max_replay_size=1048576, min_replay_size=8192, reward_scaling=1, seed=1, deterministic_eval=True)
ES_ANT = dict(population_size=256, noise_std=0.1, learning_rate=1e-3, normalize_observations=True,
              hidden=(32,) * 4, episode_length=1000)
BRAX_ES_ANT = dict(population_size=128, learning_rate=1e-3, perturbation_std=0.1,
                   normalize_observations=True, episode_length=1000, seed=1, deterministic_eval=True)
APG_REACHER = dict(num_envs=64, horizon_length=32, learning_rate=1e-3, normalize_observations=True,
                   hidden=(32,) * 4, episode_length=1000)
BRAX_APG_REACHER = dict(episode_length=1000, horizon_length=32, num_envs=64, learning_rate=1e-3,
                        normalize_observations=True, seed=1, deterministic_eval=True)
APG_FLOCK = dict(num_envs=16, horizon_length=32, learning_rate=1e-3, hidden=(32, 32),
                 episode_length=200, normalize_observations=True)
FLOCK_BOIDS = 32
FLOCK_ALIGNMENT_REWARD = 1.0   # pays for flying with aligned neighbours (minus energies alone: scatter)
FLOCK_COLLISION_PENALTY = 5.0  # per neighbour closer than collision_distance (env default 1)
PPO_FLOCK = dict(num_envs=16, episode_length=200, unroll_length=32, num_minibatches=4,
                 update_epochs=4, learning_rate=1e-3, policy_hidden=(64, 64),
                 value_hidden=(64, 64), num_eval_envs=16)


def plans(quick, scale=1.0):
    """[(comparison, gambol run or None, brax run or None)]; each run a dict. quick: the same
    networks and batches, budgets of two training iterations and small evaluations. scale < 1:
    the full budgets times `scale` and 32 evaluation episodes instead of 128."""
    evals = 3 if quick else 5
    ppo_steps = 2 * 40960 if quick else int(scale * 2_000_000)
    sac_steps = 8192 + 2 * 64 * 20 if quick else int(scale * 200_000)
    es_len = 200 if quick else 1000
    es_steps = int(1.2 * 256 * es_len) if quick else int(scale * 3_100_000)
    apg_updates = 2 * 5 if quick else int(scale * 400)
    ppo_flock_steps = 2 * 16 * 32 * 4 if quick else int(scale * 600_000)
    eval_envs = 16 if quick else 128 if scale == 1 else 32
    out = []
    out.append(('ppo',
                dict(algo='ppo', env='ant', steps=ppo_steps,
                     kwargs=dict(PPO_ANT, num_evals=evals, num_eval_envs=eval_envs)),
                dict(algo='ppo', env='ant', backend='spring',
                     kwargs=dict(BRAX_PPO_ANT, num_timesteps=ppo_steps, num_evals=evals,
                                 num_eval_envs=eval_envs))))
    sac_evals = evals if quick else 11     # dense enough to time when gambol passes brax's final
    out.append(('sac',
                dict(algo='sac', env='halfcheetah', steps=sac_steps,
                     kwargs=dict(SAC_CHEETAH, num_evals=sac_evals, num_eval_envs=min(eval_envs, 32))),
                dict(algo='sac', env='halfcheetah', backend='spring',
                     kwargs=dict(BRAX_SAC_CHEETAH, num_timesteps=sac_steps, num_evals=sac_evals,
                                 num_eval_envs=min(eval_envs, 32)))))
    for name, env in (('es', 'ant'), ('es_cheetah', 'halfcheetah')):
        out.append((name,
                    dict(algo='es', env=env, steps=es_steps,
                         kwargs=dict(ES_ANT, episode_length=es_len, num_evals=evals - 1,
                                     num_eval_envs=eval_envs)),
                    dict(algo='es', env=env, backend='spring',
                         kwargs=dict(BRAX_ES_ANT, episode_length=es_len, num_timesteps=es_steps,
                                     num_evals=evals, num_eval_envs=eval_envs))))
    apg_evals = 3 if quick else 9
    out.append(('apg',
                dict(algo='apg', env='point_reacher', steps=apg_updates * 64 * 32,
                     kwargs=dict(APG_REACHER, num_evals=apg_evals - 1, num_eval_envs=eval_envs)),
                dict(algo='apg', env='reacher', backend='spring',
                     kwargs=dict(BRAX_APG_REACHER, policy_updates=apg_updates,
                                 num_evals=apg_evals, num_eval_envs=eval_envs))))
    out.append(('apg_flock',
                dict(algo='apg', env='flock', steps=apg_updates * 16 * 32,
                     env_kwargs=dict(num_boids=FLOCK_BOIDS),
                     kwargs=dict(APG_FLOCK, num_evals=apg_evals - 1, num_eval_envs=16)), None))
    out.append(('flock',
                dict(algo='ppo', env='flock', steps=ppo_flock_steps,
                     env_kwargs=dict(num_boids=FLOCK_BOIDS, alignment_reward=FLOCK_ALIGNMENT_REWARD,
                                     collision_penalty=FLOCK_COLLISION_PENALTY),
                     kwargs=dict(PPO_FLOCK, num_evals=evals)), None))
    return out


# -- gambol side ---------------------------------------------------------------------------------

def reward_of(metrics):
    """The eval return: single-agent `eval/episode_reward`, else the sum over teams' entries."""
    if 'eval/episode_reward' in metrics:
        return float(metrics['eval/episode_reward'])
    return sum(float(v) for k, v in metrics.items() if k.startswith('eval/episode_reward/'))


CLOCK = [None]      # one CompileClock for the process (jax's listeners cannot be removed)


def run_gambol(run, seed=0):
    """Train with gambol's trainer in this process; a record like the brax side's RESULT."""
    import importlib

    import jax
    import numpy as np

    trainer = importlib.import_module(f'gambol.training.{run["algo"]}')
    log = []
    clock = CLOCK[0] = CLOCK[0] or CompileClock()
    compile_s = {}
    start = time.perf_counter()

    def progress(step, metrics):
        if not log:
            clock.mark()
        elif len(log) == 1:
            compile_s.update(compile_s=clock.largest_since_mark(),
                             compile_window_s=clock.total_since_mark())
        log.append(dict(step=int(step), wall_s=time.perf_counter() - start,
                        cpu_s=time.process_time(),
                        reward=reward_of(metrics),
                        sps=float(metrics['training/sps']) if 'training/sps' in metrics else None,
                        training={k[9:]: float(v) for k, v in metrics.items()
                                  if k.startswith('training/') and k != 'training/sps'}))
        print(f'# gambol {run["algo"]} {run["env"]}: step {step} t {log[-1]["wall_s"]:.0f}s '
              f'reward {log[-1]["reward"]:.1f}', file=sys.stderr, flush=True)

    make_policy, params, metrics = trainer.train(run['env'], run['steps'], seed=seed,
                                                 env_kwargs=run.get('env_kwargs'),
                                                 progress_fn=progress, **run['kwargs'])
    total = time.perf_counter() - start
    finite = all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree.leaves(params)
                 if np.issubdtype(np.asarray(x).dtype, np.floating))
    record = dict(lib='gambol', algo=run['algo'], env=run['env'], env_kwargs=run.get('env_kwargs'),
                  num_timesteps=run['steps'], kwargs=run['kwargs'], jax=jax.__version__,
                  total_wall_s=total, **compile_s,
                  trainer_compile_s=float(metrics['training/compile_seconds']),
                  final_eval_reward=log[-1]['reward'], final_params_finite=finite,
                  progress=[[r['step'], r['wall_s'], r['reward']] for r in log],
                  training_sps=[r['sps'] for r in log[1:]],
                  window_cpu_s=[b['cpu_s'] - a['cpu_s'] for a, b in zip(log, log[1:])],
                  training_metrics=[r['training'] for r in log[1:]])
    return record, (make_policy, params)


def flock_figures(make_policy, params, num_boids, episodes=16, length=200, seed=7):
    """Mean polarisation, nearest-neighbour distance and collisions per step over the second half
    of `episodes` episodes of `length` steps: the learned policy (deterministic), the energy model
    (`boids`) and uniform random actions, same count and box."""
    import jax
    import jax.numpy as jnp

    from gambol import envs

    def measure(name, act):
        env = envs.create(name, episode_length=length, batch_size=episodes, auto_reset=False,
                          num_boids=num_boids)

        def body(carry, key):
            state = env.step(carry, act(carry, key))
            m = state.metrics
            return state, (m['polarization'], m['nearest_neighbor_distance'], m['collisions'])

        @jax.jit
        def rollout(key):
            k0, k1 = jax.random.split(key)
            _, series = jax.lax.scan(body, env.reset(k0), jax.random.split(k1, length))
            return [jnp.mean(x[length // 2:]) for x in series]

        pol, nn, coll = (float(x) for x in rollout(jax.random.PRNGKey(seed)))
        return dict(polarization=pol, nearest_neighbor_distance=nn, collisions_per_step=coll)

    policy = make_policy(params, deterministic=True)
    flock_env = envs.make('flock', num_boids=num_boids)
    shape = (episodes, num_boids, flock_env.action_size['boid'])
    return dict(
        learned=measure('flock', lambda s, k: policy(s.obs, k)[0]),
        energy_model=measure('boids', lambda s, k: jnp.zeros((episodes, 0))),
        random=measure('flock', lambda s, k: {'boid': jax.random.uniform(k, shape, minval=-1.0,
                                                                         maxval=1.0)}),
        num_boids=num_boids, episodes=episodes, steps=length, averaged_over='steps 100-200')


def run_gambol_process(python, name, quick, scale, log_dir, label):
    """`run_gambol` of comparison `name` in a subprocess of `python` (this script as a
    worker, importing that interpreter's gambol): its record, or an error record."""
    args = [python, str(HERE / 'training.py'), '--worker', name, '--scale', str(scale)]
    args += ['--quick'] if quick else []
    env = dict(os.environ, JAX_PLATFORMS='cpu')
    log_path = pathlib.Path(log_dir) / f'{label}_{name}.log'
    with open(log_path, 'w') as log:
        proc = subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    result = next((json.loads(l[7:]) for l in proc.stdout.splitlines() if l.startswith('RESULT ')),
                  None)
    if result is None:
        return dict(lib=label, error=f'rc {proc.returncode}', log=str(log_path))
    return dict(result, lib=label)


def steady_sps(record):
    """The median over a run's iterations of its env steps per second (compile excluded)."""
    sps = [x for x in record.get('training_sps') or [] if x]
    return statistics.median(sps) if sps else None


def cpu_figures(record):
    """`(compile, iteration)` in process CPU seconds, which other jobs on the machine disturb
    far less than wall seconds: the window from the first report to the second holds the
    compile, one iteration and one evaluation, the next window one iteration and one
    evaluation; their difference is the compile."""
    cpu = record.get('window_cpu_s') or []
    return (cpu[0] - cpu[1], cpu[1]) if len(cpu) >= 2 else (None, None)


def baseline_summary(records):
    """Per comparison: medians over rounds of compile s and steady steps/s of this gambol and
    the baseline (wall clock), of compile and iteration CPU seconds (`cpu_figures`), and the
    ratios gambol / baseline."""
    out = {}
    for name in dict.fromkeys(r['comparison'] for r in records):
        entry = {}
        for lib, key in (('gambol', 'after'), (BASELINE, 'before')):
            runs = [r for r in records if r['comparison'] == name and r['lib'] == lib
                    and 'error' not in r]
            compiles = [r['compile_s'] for r in runs if r.get('compile_s')]
            sps = [x for x in map(steady_sps, runs) if x]
            cpu = [cpu_figures(r) for r in runs]
            for i, what in enumerate(('compile_cpu_s', 'iteration_cpu_s')):
                values = [c[i] for c in cpu if c[i] is not None]
                entry[f'{key}_{what}'] = statistics.median(values) if values else None
                entry[f'{key}_{what}_runs'] = values
            entry[f'{key}_compile_s'] = statistics.median(compiles) if compiles else None
            entry[f'{key}_sps'] = statistics.median(sps) if sps else None
            entry[f'{key}_compile_s_runs'] = compiles
            entry[f'{key}_sps_runs'] = sps
        for what in ('compile_s', 'sps', 'compile_cpu_s', 'iteration_cpu_s'):
            a, b = entry[f'after_{what}'], entry[f'before_{what}']
            entry[f'ratio_{what}'] = a / b if a and b else None
        out[name] = entry
    return out


# -- brax side -----------------------------------------------------------------------------------

def run_brax(run, python, log_dir):
    """brax's trainer in its venv (benchmarks/_training_brax.py): the RESULT record, or an error."""
    args = [python, str(HERE / '_training_brax.py'), run['algo'], run['env'], run['backend'],
            json.dumps(run['kwargs'])]
    env = dict(os.environ, JAX_PLATFORMS='cpu')
    log_path = pathlib.Path(log_dir) / f'brax_{run["algo"]}_{run["env"]}.log'
    lines = []
    with open(log_path, 'w') as log:    # stderr and the JSON lines, as they come (partial runs survive)
        proc = subprocess.Popen(args, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        for line in proc.stdout:
            lines.append(line)
            log.write(line)
            log.flush()
        proc.wait()
    result = next((json.loads(l[7:]) for l in lines if l.startswith('RESULT ')), None)
    if result is None:
        progress = [json.loads(l[9:]) for l in lines if l.startswith('PROGRESS ')]
        return dict(lib='brax', algo=run['algo'], env=run['env'], error=f'rc {proc.returncode}',
                    log=str(log_path), partial=progress)
    result['progress'] = [[r['step'], r['wall_s'], r.get('eval/episode_reward')]
                          for r in result['progress']]
    return result


# -- summary and plot ----------------------------------------------------------------------------

def time_to_reach(progress, reward):
    """(wall s, step) of the first evaluation at or above `reward`, else None."""
    return next(((t, s) for s, t, r in progress if r is not None and r >= reward), None)


def summarize(records):
    out = {}
    by = {}
    for r in records:
        by.setdefault(r['comparison'], {})[r['lib']] = r
    for name, pair in by.items():
        g, b = pair.get('gambol'), pair.get('brax')
        entry = {}
        if g:
            entry.update(gambol_compile_s=g.get('compile_s'), gambol_final=g.get('final_eval_reward'),
                         gambol_wall_s=g.get('total_wall_s'),
                         gambol_steps=g['progress'][-1][0] if g.get('progress') else None)
            if 'flock' in g:
                entry['flock'] = g['flock']
        if b and 'error' not in b:
            entry.update(brax_compile_s=b.get('compile_s'), brax_final=b.get('final_eval_reward'),
                         brax_wall_s=b.get('total_wall_s'), brax_steps=b['progress'][-1][0])
        elif b:
            entry['brax_error'] = b['error']
        if entry.get('gambol_compile_s') and entry.get('brax_compile_s'):
            entry['compile_ratio_brax_over_gambol'] = entry['brax_compile_s'] / entry['gambol_compile_s']
        if g and b and 'error' not in b and b.get('final_eval_reward') is not None:
            hit = time_to_reach(g['progress'], b['final_eval_reward'])
            entry['gambol_reaches_brax_final'] = (dict(wall_s=hit[0], step=hit[1],
                                                       fraction_of_brax_wall=hit[0] / b['total_wall_s'])
                                                  if hit else None)
            last_step = b['progress'][-1][0]
            entry['gambol_at_brax_last_step'] = max((p for p in g['progress'] if p[0] <= last_step),
                                                    key=lambda p: p[0], default=[None] * 3)[2]
            if name == 'ppo':
                # reaching brax's final reward means something only if brax beat its untrained policy
                improved = b['final_eval_reward'] > b['progress'][0][2]
                entry['time_target'] = TIME_TARGET
                entry['time_target_met'] = ((bool(hit) and hit[0] / b['total_wall_s'] <= TIME_TARGET)
                                            if improved else 'n/a: brax did not beat its untrained policy')
        out[name] = entry
    return out


def plot(records, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r['comparison'] for r in records))
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 3.2 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        for r in records:
            if r['comparison'] != name or not r.get('progress'):
                continue
            pts = [p for p in r['progress'] if p[2] is not None]
            label = f'{r["lib"]} {r["algo"]} {r["env"]}'
            row[0].plot([p[1] for p in pts], [p[2] for p in pts], 'o-', label=label)
            row[1].plot([p[0] for p in pts], [p[2] for p in pts], 'o-', label=label)
        row[0].set_xlabel('wall s (compile, evals included)')
        row[1].set_xlabel('env steps')
        for ax in row:
            ax.set_ylabel('eval episode reward')
            ax.set_title(name)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def table(summary):
    lines = [f'{"comparison":<10} {"compile g/b s":>15} {"ratio b/g":>9} {"final g":>9} '
             f'{"final b":>9} {"wall g/b s":>13} {"g reaches b final":>22}']
    for name, e in summary.items():
        def f(x, fmt='.1f'):
            return '-' if x is None else format(x, fmt)
        hit = e.get('gambol_reaches_brax_final')
        hit_s = (f'{hit["wall_s"]:.0f}s ({hit["fraction_of_brax_wall"]:.2f}x)' if hit
                 else ('never' if 'gambol_reaches_brax_final' in e else '-'))
        lines.append(f'{name:<10} {f(e.get("gambol_compile_s")):>7}/{f(e.get("brax_compile_s")):<7} '
                     f'{f(e.get("compile_ratio_brax_over_gambol"), ".2f"):>9} '
                     f'{f(e.get("gambol_final")):>9} {f(e.get("brax_final")):>9} '
                     f'{f(e.get("gambol_wall_s"), ".0f"):>6}/{f(e.get("brax_wall_s"), ".0f"):<6} '
                     f'{hit_s:>22}')
        if 'flock' in e:
            for who in ('learned', 'energy_model', 'random'):
                m = e['flock'][who]
                lines.append(f'    flock {who:<13} polarisation {m["polarization"]:.3f}  '
                             f'nn distance {m["nearest_neighbor_distance"]:.2f}  '
                             f'collisions/step {m["collisions_per_step"]:.2f}')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='compile times + tiny budgets')
    parser.add_argument('--only', default=','.join(ALGOS + EXTRA),
                        help=f'comma list of {",".join(ALGOS + EXTRA)}')
    parser.add_argument('--scale', type=float, default=1.0,
                        help='full mode: multiply every budget by this (< 1: 32 eval episodes)')
    parser.add_argument('--no-brax', action='store_true')
    parser.add_argument('--no-gambol', action='store_true')
    parser.add_argument('--anchors', default=DEFAULT_ANCHORS)
    parser.add_argument('--out', default=None)
    parser.add_argument('--baseline', default=None, metavar='PYTHON',
                        help=f'also run each gambol comparison with the gambol this interpreter '
                             f'imports, as "{BASELINE}", alternating (see the module docstring)')
    parser.add_argument('--rounds', type=int, default=2, help='alternating rounds with --baseline')
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run = next(g for name, g, _ in plans(args.quick, args.scale) if name == args.worker)
        record, (make_policy, params) = run_gambol(run)
        if args.worker == 'flock':
            record['flock'] = flock_figures(make_policy, params, FLOCK_BOIDS)
        print('RESULT ' + json.dumps(record), flush=True)
        return
    only = set(args.only.split(','))
    unknown = only - set(ALGOS + EXTRA)
    if unknown:
        parser.error(f'--only: unknown {sorted(unknown)}; expected some of {ALGOS + EXTRA}')
    if 'apg' in only:
        only.add('apg_flock')
    out_dir = pathlib.Path(args.out or ROOT / 'outputs' / 'bench' /
                           ('training_quick' if args.quick else 'training'))
    out_dir.mkdir(parents=True, exist_ok=True)
    python = None if args.no_brax else peer_python(args.anchors, 'brax')
    info = machine_info(mode='quick' if args.quick else 'full', scale=args.scale)
    records = []
    with open(out_dir / 'results.jsonl', 'w') as jsonl:
        emit = jsonl_emitter(jsonl, records)

        for round_ in range(args.rounds if args.baseline else 1):
            for name, gambol_run, _ in plans(args.quick, args.scale):
                if name not in only or not gambol_run or not args.baseline:
                    continue
                sides = [('gambol', sys.executable), (BASELINE, args.baseline)]
                for label, interpreter in sides[::1 if round_ % 2 == 0 else -1]:
                    print(f'# {name}: {label} (round {round_ + 1})', file=sys.stderr, flush=True)
                    emit(dict(run_gambol_process(interpreter, name, args.quick, args.scale, out_dir,
                                                 label), comparison=name, round=round_))
        for name, gambol_run, brax_run in plans(args.quick, args.scale):
            if name not in only:
                continue
            if gambol_run and not args.no_gambol and not args.baseline:
                print(f'# {name}: gambol', file=sys.stderr, flush=True)
                record, (make_policy, params) = run_gambol(gambol_run)
                if name == 'flock':
                    record['flock'] = flock_figures(make_policy, params, FLOCK_BOIDS)
                emit(dict(record, comparison=name))
            if brax_run and python:
                print(f'# {name}: brax', file=sys.stderr, flush=True)
                emit(dict(run_brax(brax_run, python, out_dir), comparison=name))
    summary = summarize([r for r in records if r['lib'] != BASELINE and 'error' not in r])
    if records:
        plot([r for r in records if 'error' not in r], out_dir / 'curves.png')
    extra = dict(baseline=baseline_summary(records), baseline_python=args.baseline) \
        if args.baseline else {}
    print('SUMMARY ' + json.dumps(dict(summary=summary, **extra, machine=info,
                                       load_avg_end=list(os.getloadavg()),
                                       curves=str(out_dir / 'curves.png'))), flush=True)
    print(table(summary), file=sys.stderr)
    for name, e in extra.get('baseline', {}).items():
        print(f'{name:<10} compile s {e["after_compile_s"]} vs baseline {e["before_compile_s"]} '
              f'(x{e["ratio_compile_s"]}); steps/s {e["after_sps"]} vs baseline {e["before_sps"]} '
              f'(x{e["ratio_sps"]}); CPU s compile x{e["ratio_compile_cpu_s"]}, '
              f'iteration x{e["ratio_iteration_cpu_s"]}', file=sys.stderr)


if __name__ == '__main__':
    main()
