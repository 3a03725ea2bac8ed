"""Fidelity of gambol's paper-era rigid envs against brax 0.0.16 (`legacy_spring=True`, the Brax
paper's spring engine): the same start and actions in both, and random-action statistics.

For each env (ant, halfcheetah, humanoid, grasp, fetch):
1. brax 0.0.16 (benchmarks/_rigid_fidelity_brax_v1.py in the venv $ANCHORS/braxv1) resets S scenes
   with its own `reset` and replays action sequences given here: uniform random in [-1, 1]
   (`--seeds` sequences) and smooth sinusoids (`--sines` sequences, a_j(t) = sin(2π f t dt + φ_j),
   f in [0.5, 2] Hz; the stand-in for a trained policy's actions, training one per env being too
   costly here). It returns the QP of every body at every step and its per-step contact counts.
2. gambol replays the same actions (mapped slot by slot through the joints' body names) from
   brax's reset QP, mapped body by body (`start="brax"`), and from its own reset (`start="own"`).
3. Everything is measured here, on both libraries' states mapped into gambol's body order, with the
   same functions: torso (grasp: object) distance, the largest joint-angle difference
   (`rigid.joint_angles` on both), torso height, episode length under each library's own
   termination rule, contacts per step (bodies with |Δv|² > 1e-5 in the step, each library's own
   contact velocity changes), joint-limit hits per step (DoFs beyond a limit by more than 1°,
   gambol's limits, which are brax's).

Variants of gambol that turn a difference off where an option exists: `brax_constants` (every
scene constant set as brax 0.0.16's config sets it, `with_brax_constants`: the engines alone then
differ; `--constants` lists the differences), `creep`
(`friction_threshold` 0.01, the Brax paper's: no friction impulse at or below 1 cm/s, so a slow
slide never stops), `substeps10` (halfcheetah-v1, the paper's 10 substeps; brax 0.0.16 steps 16),
`rest_v1` (ant-v1's rest pose, knees straight at 0 degrees, outside their limits).
The yardstick of chaos: `chaos_yardstick` rows compare gambol with itself from the same start with
every body's velocity nudged by 1e-4 m/s: how fast two runs of one engine separate anyway.

Usage: python benchmarks/rigid_fidelity.py [--envs ant,...] [--seeds 32] [--sines 8] [--steps 1000]
       [--out docs/rigid_fidelity_YYYY-MM-DD.jsonl]
Prints and writes one JSON line per (env, variant, actions) row.
       python benchmarks/rigid_fidelity.py --table FILE.jsonl   (the markdown tables of a run)
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import DEFAULT_ANCHORS, machine_info, peer_python   # noqa: E402

import gambol.envs as genvs                                      # noqa: E402
from gambol.physics.rigid import QP, build_system, default_qp, joint_angles   # noqa: E402
from gambol.physics.rigid.math import inv_rotate, quat_conj, quat_mul, rotate   # noqa: E402

ENVS = {'ant': genvs.Ant, 'halfcheetah': genvs.Halfcheetah, 'humanoid': genvs.Humanoid,
        'grasp': genvs.Grasp, 'fetch': genvs.Fetch}

# brax 0.0.16's body names (`sys.body.index` order, legacy_spring configs), stored so that the
# mapping can be checked without the brax venv (tests/benchmarks/test_rigid_fidelity_names.py)
BRAX_V1_BODIES = {
    'ant': ['$ Torso', 'Aux 1', '$ Body 4', 'Aux 2', '$ Body 7', 'Aux 3', '$ Body 10', 'Aux 4',
            '$ Body 13', 'Ground'],
    'halfcheetah': ['torso', 'bthigh', 'bshin', 'bfoot', 'fthigh', 'fshin', 'ffoot', 'floor'],
    'humanoid': ['torso', 'lwaist', 'pelvis', 'right_thigh', 'right_shin', 'left_thigh', 'left_shin',
                 'right_upper_arm', 'right_lower_arm', 'left_upper_arm', 'left_lower_arm', 'floor'],
    'grasp': ['Ground', 'Object', 'HandThumbProximal', 'HandThumbDistal', 'HandThumbMiddle',
              'HandPalm', 'HandThumbProximalTwo', 'HandThumbMiddleTwo', 'HandThumbDistalTwo',
              'HandThumbProximalThree', 'HandThumbMiddleThree', 'HandThumbDistalThree',
              'HandThumbProximalFour', 'HandThumbMiddleFour', 'HandThumbDistalFour', 'Target'],
    'fetch': ['Torso', 'Shoulders', 'Hips', 'Front Right Upper', 'Front Right Lower',
              'Front Left Upper', 'Front Left Lower', 'Back Right Upper', 'Back Right Lower',
              'Back Left Upper', 'Back Left Lower', 'Ground', 'Target'],
}

# each library's own termination: torso z outside (low, high); None: never
TERMINATION = {'gambol': {'ant': (0.2, 1.0), 'humanoid': (0.6, 2.1)},
               'brax': {'ant': (0.2, 1.0), 'humanoid': (0.8, 2.1)}}
CHECK_STEPS = (1, 10, 100, 1000)
SEPARATED_M = 0.1             # a run has separated once the torso is this far from brax's
YARDSTICK = 1e-4              # m/s: gambol against itself nudged by this much shows the chaos alone


def gambol_name(brax_name: str) -> str:
    """gambol's name of a brax 0.0.16 body: without the '$ ' prefix; grasp's HandThumb{Part}{n}
    is 'Finger {n} {Part}' (n: '' 1, Two 2, Three 3, Four 4)."""
    name = brax_name.removeprefix('$ ')
    if name.startswith('HandThumb'):
        rest = name[len('HandThumb'):]
        for word, n in (('Two', 2), ('Three', 3), ('Four', 4)):
            if rest.endswith(word):
                return f'Finger {n} {rest[:-len(word)]}'
        return f'Finger 1 {rest}'
    return name


def body_map(env: str, gambol_bodies) -> np.ndarray:
    """For each gambol body, the index of the same body in brax 0.0.16 (-1: none there) [N_gambol];
    raises if a brax body has no gambol counterpart or two map to one."""
    names = [gambol_name(b) for b in BRAX_V1_BODIES[env]]
    if len(set(names)) != len(names):
        raise ValueError(f'{env}: brax body names map to one gambol name twice: {names}')
    missing = [b for b in names if b not in gambol_bodies]
    if missing:
        raise ValueError(f'{env}: brax bodies with no gambol body of that name: {missing}')
    return np.array([names.index(b) if b in names else -1 for b in gambol_bodies])


def slot_limits(sys) -> np.ndarray:
    """Each action slot's joint limits [A, 2] (radians; NaN for a slot without a joint)."""
    out = np.full((sys.action_size, 2), np.nan, np.float32)
    for g in sys.joints:
        for j in range(len(g.names)):
            for k, slot in enumerate(g.action_slots[j]):
                out[slot] = np.asarray(g.limits[j, k])
    return out


def action_map(sys, extra: int, brax: dict) -> np.ndarray:
    """For each brax action slot, the gambol action slot that drives the same joint DoF (joints
    matched by their parent and child names) [A_brax]; trailing env actions (grasp's palm target)
    map in order."""
    bodies = [b.name for b in sys.spec.bodies]
    ours = {}
    for g in sys.joints:
        for j in range(len(g.names)):
            ours[(bodies[g.parent[j]], bodies[g.child[j]])] = list(g.action_slots[j])
    joints = {str(n): (p, c) for n, p, c in zip(brax['joint_name'], brax['joint_parent'], brax['joint_child'])}
    out = []
    for joint, first in zip(brax['actuator_joint'], brax['actuator_first_slot']):
        p, c = joints[str(joint)]
        slots = ours[(gambol_name(p), gambol_name(c))]
        out.extend(slots)
        assert len(out) == first + len(slots)
    out.extend(range(sys.action_size, sys.action_size + extra))
    return np.array(out)


def attached_pose(sys, rest: QP, body: int, parent: int, qp: QP):
    """Position, rotation, velocity and angular velocity of `body` rigidly attached to `parent`
    as in the rest pose, with the parent at qp[parent] (for bodies brax does not have)."""
    rel_pos = inv_rotate(rest.pos[body] - rest.pos[parent], rest.rot[parent])
    rel_rot = quat_mul(quat_conj(rest.rot[parent]), rest.rot[body])
    r = rotate(rel_pos, qp.rot[parent])
    return (qp.pos[parent] + r, quat_mul(qp.rot[parent], rel_rot),
            qp.vel[parent] + jnp.cross(qp.ang[parent], r), qp.ang[parent])


def to_gambol(sys, mapping: np.ndarray, brax_qp: dict) -> QP:
    """brax QPs (arrays [..., N_brax, 3 or 4]) in gambol's body order [..., N_gambol, ...]; a body
    brax lacks is rigidly attached to its joint parent (halfcheetah's welded head) or, without
    one, kept at gambol's rest pose (grasp's static frame)."""
    rest = default_qp(sys)
    lead = brax_qp['pos'].shape[:-2]
    parts = {k: [] for k in ('pos', 'rot', 'vel', 'ang')}
    parent_of = {}
    for g in sys.joints:
        for j in range(len(g.names)):
            parent_of[g.child[j]] = g.parent[j]
    for i, b in enumerate(mapping):
        if b >= 0:
            for k in parts:
                parts[k].append(jnp.asarray(brax_qp[k][..., b, :]))
        elif i in parent_of and mapping[parent_of[i]] >= 0:
            p = mapping[parent_of[i]]
            parent = QP(*(jnp.asarray(brax_qp[k][..., p, :]) for k in ('pos', 'rot', 'vel', 'ang')))
            pair = jnp.array([parent_of[i], i])
            rest_pair = QP(rest.pos[pair], rest.rot[pair], rest.vel[pair], rest.ang[pair])
            flat = QP(*(x.reshape((-1, 1, x.shape[-1])) for x in (parent.pos, parent.rot, parent.vel, parent.ang)))
            out = jax.vmap(lambda q: attached_pose(sys, rest_pair, 1, 0, q))(flat)
            for k, x in zip(parts, out):
                parts[k].append(x.reshape(lead + x.shape[-1:]))
        else:
            for k in parts:
                x = getattr(rest, k)[i]
                parts[k].append(jnp.broadcast_to(x, lead + x.shape))
    return QP(*(jnp.stack(parts[k], axis=-2) for k in ('pos', 'rot', 'vel', 'ang')))


def root_body(env) -> int:
    """The body the limbs hang from: the torso, grasp's palm."""
    return env.torso if env.torso_body else env.sys.body_index('HandPalm')


def zero_angle_pose_error(sys, mapping, brax: dict, root: int) -> float:
    """The largest difference (m) between gambol's and brax's body positions relative to `root`
    with every joint at angle 0, over the bodies of root's joint tree (the check of the mapping)."""
    rest = default_qp(sys, jnp.zeros(sys.action_size))
    tree, grown = {root}, True
    while grown:
        grown = False
        for g in sys.joints:
            for p, c in zip(g.parent, g.child):
                if (p in tree) != (c in tree):
                    tree |= {p, c}
                    grown = True
    ids = np.array(sorted(i for i in tree if mapping[i] >= 0))
    ours = np.asarray(rest.pos)[ids] - np.asarray(rest.pos)[root]
    theirs = brax['default_pos'][mapping[ids]] - brax['default_pos'][mapping[root]]
    return float(np.max(np.abs(ours - theirs)))


def run_brax(py: str, env: str, seeds, actions) -> dict:
    """brax 0.0.16's reset QP trajectories and contact counts for `actions` [S, T, A_brax]."""
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        path_in, path_out = os.path.join(tmp, 'in.npz'), os.path.join(tmp, 'out.npz')
        np.savez(path_in, env=env, seeds=np.asarray(seeds), actions=np.asarray(actions, np.float32))
        subprocess.run([py, os.path.join(here, '_rigid_fidelity_brax_v1.py'), path_in, path_out],
                       check=True, cwd=here, env=dict(os.environ, JAX_PLATFORMS='cpu'),
                       stderr=subprocess.DEVNULL)
        with np.load(path_out) as d:
            return {k: d[k] for k in d.files}


def run_gambol(env, seeds, actions, start: QP | None = None) -> dict:
    """gambol's QP trajectories [S, T+1, ...] and contact counts [S, T] under `actions` [S, T, A]
    from `start` (a QP [S, N, ...]) or, without one, from `env.reset`."""
    captured = {}
    physics = env.physics

    def physics_recording(qp, action):       # env.step calls physics once; keep its StepInfo
        qp, info = physics(qp, action)
        captured['info'] = info
        return qp, info

    env.physics = physics_recording

    def one(seed, acts, qp0):
        state = env.reset(jax.random.PRNGKey(seed))
        if qp0 is not None:
            state = state.replace(pipeline_state=qp0)

        def body(state, a):
            state = env.step(state, a)
            flags = jnp.sum(captured['info'].contact_vel ** 2, axis=-1) > 1e-5
            return state, (state.pipeline_state, jnp.sum(flags).astype(jnp.float32))

        _, (qps, contacts) = jax.lax.scan(body, state, acts)
        qps = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), state.pipeline_state, qps)
        return qps, contacts

    qps, contacts = jax.jit(jax.vmap(one))(jnp.asarray(seeds), jnp.asarray(actions), start)
    env.physics = physics
    out = {k: np.asarray(getattr(qps, k)) for k in ('pos', 'rot', 'vel', 'ang')}
    out['contacts'] = np.asarray(contacts)
    return out


def angles_of(sys, traj: dict) -> np.ndarray:
    """Every joint DoF's angle along trajectories in gambol's body order [S, T+1, A]."""
    qp = QP(*(jnp.asarray(traj[k]) for k in ('pos', 'rot', 'vel', 'ang')))
    return np.asarray(jax.jit(jax.vmap(jax.vmap(lambda q: joint_angles(sys, q)[0])))(qp))


def episode_lengths(z: np.ndarray, rule) -> np.ndarray:
    """Steps until the first step whose torso height z [S, T+1] is outside rule (low, high) [S]."""
    steps = z.shape[1] - 1
    if rule is None:
        return np.full(z.shape[0], steps)
    done = (z[:, 1:] < rule[0]) | (z[:, 1:] > rule[1])
    return np.where(done.any(axis=1), done.argmax(axis=1) + 1, steps)


def spread(x) -> dict:
    """Median and interquartile range (25th, 75th percentiles) of x over its first axis."""
    q = np.percentile(np.asarray(x, np.float64), [25, 50, 75], axis=0)
    return {'p25': float(q[0]), 'median': float(q[1]), 'p75': float(q[2])}


def statistics(sys, traj: dict, torso: int, rule, limits: np.ndarray) -> dict:
    """Random-action figures of one library's trajectories (gambol body order), over each scene's
    live steps 1..episode length: torso height, episode length, contacts and limit hits per step."""
    z = traj['pos'][:, :, torso, 2]
    length = episode_lengths(z, rule)
    live = np.arange(1, z.shape[1])[None, :] <= length[:, None]            # [S, T]
    angles = angles_of(sys, traj)[:, 1:]
    margin = np.deg2rad(1.0)
    beyond = (angles < limits[:, 0] - margin) | (angles > limits[:, 1] + margin)
    hits = np.sum(np.where(np.isnan(limits[:, 0]), False, beyond), axis=-1)  # [S, T]
    heights = z[:, 1:][live]
    pct = np.percentile(heights, [5, 25, 50, 75, 95])
    return {'torso_z_mean': float(heights.mean()),
            'torso_z_pct_5_25_50_75_95': [round(float(p), 4) for p in pct],
            'episode_length': spread(length), 'episode_length_mean': float(length.mean()),
            'terminated_fraction': float(np.mean(length < z.shape[1] - 1)),
            'contacts_per_step': float(traj['contacts'][live].mean()),
            'limit_hits_per_step': float(hits[live].mean()),
            'limit_hit_fraction_of_dof_steps': float(hits[live].mean() / np.sum(~np.isnan(limits[:, 0])))}


def divergence(sys, ours: dict, theirs: dict, torso: int) -> dict:
    """Torso distance and largest joint-angle difference against step, over scenes."""
    dist = np.linalg.norm(ours['pos'][:, :, torso] - theirs['pos'][:, :, torso], axis=-1)   # [S, T+1]
    dangle = np.max(np.abs(angles_of(sys, ours) - angles_of(sys, theirs)), axis=-1)
    steps = dist.shape[1] - 1
    out = {}
    for t in CHECK_STEPS:
        if t <= steps:
            out[f'torso_m_step{t}'] = spread(dist[:, t])
            out[f'angle_rad_step{t}'] = spread(dangle[:, t])
    apart = dist[:, 1:] > SEPARATED_M
    out['separated_step'] = spread(np.where(apart.any(axis=1), apart.argmax(axis=1) + 1, steps + 1))
    out['separated_fraction'] = float(np.mean(apart.any(axis=1)))
    out['start_torso_m'] = float(np.max(dist[:, 0]))
    return out


def nudged(qp: QP, speed: float) -> QP:
    """qp [S, N, ...] with every body's velocity moved by `speed` (m/s) in a fixed random direction."""
    d = np.random.default_rng(1).normal(size=qp.vel.shape)
    d = speed * d / np.linalg.norm(d, axis=-1, keepdims=True)
    return qp.replace(vel=qp.vel + jnp.asarray(d, qp.vel.dtype))


def sine_actions(rng, scenes, steps, size, dt) -> np.ndarray:
    """a_j(t) = sin(2π f_j t dt + φ_j), f_j ~ U(0.5, 2) Hz, φ_j ~ U(0, 2π) per scene [S, T, A]."""
    f = rng.uniform(0.5, 2.0, (scenes, 1, size))
    phase = rng.uniform(0, 2 * np.pi, (scenes, 1, size))
    t = np.arange(steps)[None, :, None] * dt
    return np.sin(2 * np.pi * f * t + phase).astype(np.float32)


def variants(name: str, env, brax: dict):
    """(variant, env, start) of gambol rows: start 'brax' replays from brax's reset, 'own' from
    gambol's."""
    sys = env.sys
    out = [('as_shipped', env, 'brax'), ('as_shipped', env, 'own'),
           ('brax_constants', ENVS[name](with_brax_constants(sys, brax)), 'brax')]
    creep = ENVS[name](build_system(dataclasses.replace(sys.spec, friction_threshold=0.01)))
    out.append(('creep', creep, 'brax'))
    if name == 'halfcheetah':
        out.append(('substeps10', ENVS[name](build_system(dataclasses.replace(sys.spec, substeps=10))),
                    'brax'))
    if name == 'ant':
        v1 = ENVS[name]()
        straight = jax.device_get(default_qp(v1.sys, jnp.zeros(v1.sys.action_size)))
        v1.rest_qp = lambda: jax.tree.map(jnp.asarray, straight)
        out.append(('rest_v1', v1, 'own'))
    return out


def run_env(name: str, py: str, scenes: int, sines: int, steps: int, emit, only) -> None:
    env = ENVS[name]()
    sys = env.sys
    bodies = [b.name for b in sys.spec.bodies]
    mapping = body_map(name, bodies)
    torso = env.torso if env.torso_body else sys.body_index('Object')
    limits = slot_limits(sys)
    rng = np.random.default_rng(0)
    action_sets = {'random': rng.uniform(-1, 1, (scenes, steps, env.action_size)).astype(np.float32),
                   'sine': sine_actions(rng, sines, steps, env.action_size, float(sys.dt))}
    layout = run_brax(py, name, [0], np.zeros((1, 0, 1), np.float32))      # describe only
    slots = action_map(sys, env.extra_actions, layout)
    for kind, ours in action_sets.items():
        seeds = np.arange(len(ours))
        brax = run_brax(py, name, seeds, ours[..., slots])
        mapped = to_gambol(sys, mapping, brax)
        theirs = {k: np.asarray(getattr(mapped, k)) for k in ('pos', 'rot', 'vel', 'ang')}
        theirs['contacts'] = brax['contacts']
        pose_error = zero_angle_pose_error(sys, mapping, brax, root_body(env))
        base = dict(env=name, actions=kind, scenes=len(seeds), steps=steps, brax_jax=str(brax['jax_version']),
                    brax_dt=float(brax['dt']), brax_substeps=int(brax['substeps']),
                    gambol_dt=float(sys.dt), gambol_substeps=int(sys.substeps),
                    mapped_bodies=int(np.sum(mapping >= 0)), gambol_bodies=len(bodies),
                    zero_angle_pose_max_m=pose_error)
        if kind == 'random':
            emit(dict(base, lib='brax', variant='brax_0.0.16', start='brax',
                      **statistics(sys, theirs, torso, TERMINATION['brax'].get(name), limits)))
        for variant, genv, start in variants(name, env, layout):
            if (start == 'own' and kind != 'random') or variant not in only:
                continue
            qp0 = None
            if start == 'brax':
                qp0 = QP(*(jnp.asarray(theirs[k][:, 0]) for k in ('pos', 'rot', 'vel', 'ang')))
            traj = run_gambol(genv, seeds, ours, qp0)
            row = dict(base, lib='gambol', variant=variant, start=start,
                       gambol_substeps=int(genv.sys.substeps))
            if kind == 'random':
                row.update(statistics(sys, traj, torso, TERMINATION['gambol'].get(name), limits))
            if start == 'brax':
                row.update(divergence(sys, traj, theirs, torso))
            emit(row)
            if variant == 'as_shipped' and start == 'brax':
                emit(dict(base, lib='gambol', variant='chaos_yardstick', start='brax + 1e-4 m/s',
                          compared_with='gambol as_shipped from brax start',
                          **divergence(sys, run_gambol(genv, seeds, ours, nudged(qp0, YARDSTICK)),
                                       traj, torso)))


SCENE_FIELDS = {'friction': 'friction', 'baumgarte_erp': 'baumgarte_erp', 'elasticity': 'elasticity',
                'dt': 'dt', 'substeps': 'substeps', 'angular_damping': 'angular_damping',
                'velocity_damping': 'linear_damping'}
JOINT_FIELDS = ('stiffness', 'angular_damping', 'spring_damping', 'limit_strength')


def constants(name: str, sys, brax: dict) -> list:
    """Every scene constant whose value differs between brax 0.0.16's config and gambol's system:
    [what, brax's, gambol's] (gambol's defaults filled in; a joint's spring_damping and
    limit_strength only where brax's config sets them; frozen bodies left out). A field brax
    leaves unset is 0. brax's global damping is a growth rate (-0.05 decays), negated here;
    brax's friction is per collider and a pair's the product, squared here."""
    config = json.loads(str(brax['config_json']))
    spec, out = sys.spec, []

    def differ(what, theirs, ours):
        if not np.isclose(float(theirs), float(ours), rtol=1e-4, atol=1e-9):
            out.append([what, float(theirs), float(ours)])

    for field, ours in SCENE_FIELDS.items():
        theirs = config.get(field, 0.0)
        if field == 'friction':            # brax: per collider, a pair's is the product
            theirs, field = theirs ** 2, 'friction (brax: squared, the pair product)'
        if field.endswith('damping'):      # brax: a growth rate
            theirs, field = -theirs, f'{field} (brax: negated)'
        differ(field, theirs, getattr(spec, ours))
    differ('gravity_z', config.get('gravity', {}).get('z', 0.0), spec.gravity[2])
    bodies = {b.name: b for b in spec.bodies}
    for b in config.get('bodies', []):
        ours = bodies[gambol_name(b['name'])]
        if ours.frozen:                    # mass and inertia never enter
            continue
        differ(f"mass {ours.name}", b.get('mass', 0.0), ours.mass)
        for k, axis in enumerate('xyz'):
            differ(f"inertia_{axis} {ours.name}", b.get('inertia', {}).get(axis, 0.0), ours.inertia[k])
    joints = {(j.parent, j.child): j for j in spec.joints}
    effective = {g.names[j]: (g, j) for g in sys.joints for j in range(len(g.names))}
    for j in config.get('joints', []):
        ours = joints[(gambol_name(j['parent']), gambol_name(j['child']))]
        group, row = effective[ours.name]
        for field in JOINT_FIELDS:
            if field in j or field in ('stiffness', 'angular_damping'):   # else brax's default
                differ(f"{field} {ours.name}", j.get(field, 0.0), getattr(group, field)[row])
    acts = {a.joint: a for a in spec.actuators}
    names = {j['name']: joints[(gambol_name(j['parent']), gambol_name(j['child']))].name
             for j in config.get('joints', [])}
    for a in config.get('actuators', []):
        ours = acts[names[a['joint']]]
        differ(f"strength {ours.name}", a.get('strength', 0.0), ours.strength * ours.gear)
    return out


def with_brax_constants(sys, brax: dict):
    """gambol's system with brax 0.0.16's scene constants (friction as the pair product, global
    damping negated, joint stiffness and damping, limit strength, actuator strength, moving bodies'
    mass and inertia) where brax's config sets them: the engines alone then differ."""
    config = json.loads(str(brax['config_json']))
    spec = sys.spec
    top = {'friction': config.get('friction', 0.0) ** 2, 'baumgarte_erp': config.get('baumgarte_erp', 0.0),
           'elasticity': config.get('elasticity', 0.0),
           'angular_damping': -config.get('angular_damping', 0.0),
           'linear_damping': -config.get('velocity_damping', 0.0)}
    bodies = {gambol_name(b['name']): b for b in config.get('bodies', [])}
    new_bodies = []
    for b in spec.bodies:
        theirs = bodies.get(b.name)
        if theirs is None or b.frozen:
            new_bodies.append(b)
            continue
        inertia = theirs.get('inertia', {})
        new_bodies.append(dataclasses.replace(b, mass=theirs.get('mass', b.mass),
                                              inertia=tuple(inertia.get(a, 0.0) for a in 'xyz')))
    by_pair = {(gambol_name(j['parent']), gambol_name(j['child'])): j for j in config.get('joints', [])}
    names = {j['name']: None for j in config.get('joints', [])}
    new_joints = []
    for j in spec.joints:
        theirs = by_pair.get((j.parent, j.child))
        if theirs is None:
            new_joints.append(j)
            continue
        names[theirs['name']] = j.name
        fields = {f: theirs[f] for f in ('spring_damping', 'limit_strength') if f in theirs}
        new_joints.append(dataclasses.replace(j, stiffness=theirs.get('stiffness', 0.0),
                                              angular_damping=theirs.get('angular_damping', 0.0), **fields))
    strength = {names[a['joint']]: a.get('strength', 0.0) for a in config.get('actuators', [])}
    new_acts = [dataclasses.replace(a, strength=strength[a.joint] / a.gear) if a.joint in strength else a
                for a in spec.actuators]
    return build_system(dataclasses.replace(spec, bodies=tuple(new_bodies), joints=tuple(new_joints),
                                            actuators=tuple(new_acts), **top))


def tables(rows: list) -> str:
    """Markdown tables of a run's rows: random-action statistics, then divergence (env order)."""
    order = list(ENVS)
    rows = sorted((r for r in rows if r.get('env') in order), key=lambda r: order.index(r['env']))
    out = ['| env | library, variant, start | torso z mean (p5 / p50 / p95) | episode length mean '
           '(terminated) | contacts / step | limit hits / step |', '|---|---|---|---|---|---|']
    for r in rows:
        if r.get('actions') != 'random' or 'torso_z_mean' not in r:
            continue
        p = r['torso_z_pct_5_25_50_75_95']
        out.append(f"| {r['env']} | {r['lib']} {r['variant']}, {r['start']} | {r['torso_z_mean']:.3f} "
                   f"({p[0]:.3f} / {p[2]:.3f} / {p[4]:.3f}) | {r['episode_length_mean']:.0f} "
                   f"({100 * r['terminated_fraction']:.0f}%) | {r['contacts_per_step']:.2f} | "
                   f"{r['limit_hits_per_step']:.2f} |")
    out += ['', '| env | actions | gambol variant | torso distance (m) at step 1 / 10 / 100 / 1000, '
            'median [IQR] | largest joint-angle difference (rad), same steps | separated (> 0.1 m) '
            'at step, median [IQR] (fraction) |', '|---|---|---|---|---|---|']

    def fmt(d, digits):
        return f"{d['median']:.{digits}g} [{d['p25']:.{digits}g}, {d['p75']:.{digits}g}]"

    for r in rows:
        if 'separated_step' not in r:
            continue
        steps = [t for t in CHECK_STEPS if f'torso_m_step{t}' in r]
        dist = ' / '.join(fmt(r[f'torso_m_step{t}'], 2) for t in steps)
        ang = ' / '.join(fmt(r[f'angle_rad_step{t}'], 2) for t in steps)
        out.append(f"| {r['env']} | {r['actions']} ({r['scenes']}) | {r['variant']} | {dist} | {ang} | "
                   f"{fmt(r['separated_step'], 4)} ({r['separated_fraction']:.2f}) |")
    return '\n'.join(out)


def py_or_make(anchors):
    return peer_python(anchors, 'braxv1')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--envs', default='ant,halfcheetah,humanoid,grasp,fetch')
    parser.add_argument('--seeds', type=int, default=32)
    parser.add_argument('--sines', type=int, default=8)
    parser.add_argument('--steps', type=int, default=1000)
    parser.add_argument('--anchors', default=DEFAULT_ANCHORS)
    parser.add_argument('--out', default=None)
    parser.add_argument('--variants', default='as_shipped,brax_constants,creep,substeps10,rest_v1',
                        help='the gambol variants to run (chaos_yardstick comes with as_shipped)')
    parser.add_argument('--table', default=None, help='print the markdown tables of a JSONL file')
    parser.add_argument('--constants', action='store_true',
                        help="print each env's scene constants that differ from brax 0.0.16's")
    args = parser.parse_args()
    if args.constants:
        for name in args.envs.split(','):
            env = ENVS[name]()
            layout = run_brax(py_or_make(args.anchors), name, [0], np.zeros((1, 0, 1), np.float32))
            row = dict(env=name, kind='constants', differences=constants(name, env.sys, layout))
            print(json.dumps(row), flush=True)
        return
    if args.table:
        with open(args.table) as f:
            print(tables([json.loads(line) for line in f]))
        return
    py = peer_python(args.anchors, 'braxv1')
    header = machine_info(benchmark='rigid_fidelity', jax=jax.__version__,
                          command=' '.join(['python', 'benchmarks/rigid_fidelity.py'] + sys.argv[1:]))
    rows = [header]
    print(json.dumps(header), flush=True)

    def emit(row):
        rows.append(row)
        print(json.dumps(row), flush=True)

    for name in args.envs.split(','):
        run_env(name, py, args.seeds, args.sines, args.steps, emit, args.variants.split(','))
    if args.out:
        with open(args.out, 'w') as f:
            f.writelines(json.dumps(r) + '\n' for r in rows)


if __name__ == '__main__':
    main()
