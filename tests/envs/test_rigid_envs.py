"""The rigid-body envs (ant, halfcheetah, humanoid, grasp, fetch): sizes, random-action
rollouts (finite, above the floor, reward terms summing to the reward, deterministic),
observation layouts, terminations, target respawns, the kinematic palm, gradients.

Each env compiles one batched rollout (`lax.scan` of the wrapped env's step) once per
module; the tests read its trajectory. Sizes: ant runs the full 1000 steps x 64
members; halfcheetah and fetch 1000 x 16, humanoid and grasp 300 x 8 (CI time).
"""

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol import envs
from gambol.physics.rigid import joint_angles
from gambol.physics.rigid.contacts import detect
from gambol.physics.rigid.math import rotate

PAPER_SIZES = {"ant": (87, 8), "halfcheetah": (25, 7), "humanoid": (299, 17), "grasp": (139, 19),
               "fetch": (101, 10)}
ROLLOUT = {"ant": (1000, 64), "halfcheetah": (1000, 16), "fetch": (1000, 16),
           "humanoid": (300, 8), "grasp": (300, 8)}
NAMES = list(PAPER_SIZES)


class Rollout:
    """A compiled random-action rollout of `name` from any batched start state."""

    def __init__(self, name):
        steps, batch = ROLLOUT[name]
        self.name, self.steps, self.batch = name, steps, batch
        self.env = envs.create(name, episode_length=1000, batch_size=batch, auto_reset=False)
        self.bare = self.env.unwrapped
        keys = jax.random.split(jax.random.PRNGKey(7), batch)
        self.keys = keys.at[1].set(keys[0])          # members 0 and 1 share a seed
        self.start = jax.jit(self.env.reset)(self.keys)
        self.run = jax.jit(self._run)
        self.final, self.traj = self.run(self.start, self.keys)

    def _run(self, state, keys):
        size = self.env.action_size

        def body(s, t):
            a = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, t), (size,),
                                                      minval=-1.0, maxval=1.0))(keys)
            nxt = self.env.step(s, a)
            qp = nxt.pipeline_state
            contacts = jax.vmap(functools.partial(detect, self.bare.sys))(qp)
            on_plane = np.asarray(contacts.on_plane)
            # signed distance to the floor of every colliding point (capsule ends, box corners)
            floor_gap = jnp.min(contacts.dist[:, on_plane], axis=-1)
            out = {"was_done": s.done, "done": nxt.done, "reward": nxt.reward, "pos": qp.pos,
                   "floor_gap": floor_gap, "action": a, "metrics": nxt.metrics,
                   "finite": jnp.all(jnp.isfinite(nxt.obs), -1) & jnp.all(jnp.isfinite(qp.vel), (-1, -2))}
            return nxt, out

        return jax.lax.scan(body, state, jnp.arange(self.steps))


@functools.lru_cache(maxsize=None)
def rollout(name) -> Rollout:
    return Rollout(name)


def active(r: Rollout) -> np.ndarray:
    """[T, B] True where the step ran (the episode had not ended before it)."""
    return np.asarray(r.traj["was_done"]) == 0


def member(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


VERSIONS = {"ant": "v2", "humanoid": "v2",        # v2: rest pose inside the joint limits
            "halfcheetah": "v2"}                 # v2: 16 substeps


@pytest.mark.parametrize("name", NAMES)
def test_sizes_specs_and_version(name):
    env = envs.make(name)
    obs_size, act_size = PAPER_SIZES[name]
    assert (env.observation_size, env.action_size) == (obs_size, act_size)
    assert env.version == f"{name}-{VERSIONS.get(name, 'v1')}" and env.metadata["version"] == env.version
    assert env.version in sys.modules[type(env).__module__].__doc__
    np.testing.assert_array_equal(env.action_spec.low, -1.0)
    np.testing.assert_array_equal(env.action_spec.high, 1.0)
    r = rollout(name)
    assert r.final.obs.shape == (r.batch, obs_size) and r.final.obs.dtype == jnp.float32
    assert r.final.reward.shape == (r.batch,) and r.final.done.shape == (r.batch,)
    assert r.start.obs.shape == (r.batch, obs_size) and r.start.obs.dtype == jnp.float32


@pytest.mark.parametrize("name", NAMES)
def test_rollout_is_finite_and_stays_above_the_floor(name):
    r = rollout(name)
    run = active(r)
    assert np.all(np.asarray(r.traj["finite"])[run])
    # the points that can touch the floor stay above it while running: penetration
    # under 0.1 in 99.9% of point-steps and never 0.2 (random actions slam
    # halfcheetah's feet down: a few impacts sink further for a substep or two)
    gap = np.asarray(r.traj["floor_gap"])[run]
    assert np.quantile(gap, 0.001) > -0.1 and gap.min() > -0.2
    system = r.bare.sys
    # no body sinks through the floor: every centre of mass stays above -0.25
    z = np.asarray(r.traj["pos"])[..., 2]
    moving = [b for b, body in enumerate(system.spec.bodies) if not body.frozen]
    assert z[run][:, moving].min() > -0.25


@pytest.mark.parametrize("name", NAMES)
def test_reward_terms_sum_to_the_reward(name):
    r = rollout(name)
    run = active(r)
    metrics = r.traj["metrics"]
    total = sum(np.asarray(metrics[k]) for k in r.bare.reward_terms)
    np.testing.assert_allclose(total[run], np.asarray(r.traj["reward"])[run], rtol=1e-5, atol=1e-5)
    assert set(r.bare.reward_terms) <= set(r.final.metrics)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_trajectory_other_seed_another(name):
    r = rollout(name)
    same = jax.tree.map(lambda x: np.asarray(x[:, 0]), r.traj)
    twin = jax.tree.map(lambda x: np.asarray(x[:, 1]), r.traj)
    other = np.asarray(r.traj["pos"][:, 2])
    jax.tree.map(np.testing.assert_array_equal, same, twin)
    np.testing.assert_array_equal(r.start.obs[0], r.start.obs[1])
    assert not np.array_equal(r.start.obs[0], r.start.obs[2])     # reset is randomised
    assert not np.allclose(same["pos"], other)


@pytest.mark.parametrize("name", ["ant", "halfcheetah", "fetch"])
def test_episode_ends_at_the_wrapper_length(name):
    r = rollout(name)
    done = np.asarray(r.traj["done"])
    assert np.all(done[-1] == 1.0)                       # 1000 steps: every episode is over
    truncated = done[-2] == 0                            # still running one step before
    assert np.all(np.asarray(r.final.info["truncation"])[truncated] == 1.0)


@pytest.mark.parametrize("name", ["ant", "halfcheetah", "humanoid"])
def test_observation_starts_with_torso_and_joints(name):
    """obs = [torso z, torso quaternion, n joint angles, torso vel, torso ang, n joint speeds, ...]."""
    r = rollout(name)
    env, state = r.bare, member(r.final, 3)
    qp, obs, t = state.pipeline_state, state.obs, env.torso
    n = env.sys.action_size
    angles, speeds = joint_angles(env.sys, qp)
    np.testing.assert_allclose(obs[0], qp.pos[t, 2], rtol=1e-6)
    np.testing.assert_allclose(obs[1:5], qp.rot[t], rtol=1e-6)
    np.testing.assert_allclose(obs[5:5 + n], angles, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(obs[5 + n:8 + n], qp.vel[t], rtol=1e-6)
    np.testing.assert_allclose(obs[8 + n:11 + n], qp.ang[t], rtol=1e-6)
    np.testing.assert_allclose(obs[11 + n:11 + 2 * n], speeds, rtol=1e-5, atol=1e-5)


def test_ant_contacts_are_clipped_and_termination():
    r = rollout("ant")
    obs, t = np.asarray(r.final.obs), r.bare.torso
    assert np.all(np.abs(obs[:, 27:]) <= 1.0) and np.any(obs[:, 27:] != 0.0)
    # terminations (before the time limit) happen exactly when the torso leaves [0.2, 1.0]
    z = np.asarray(r.traj["pos"])[..., t, 2]
    ended = (np.asarray(r.traj["done"]) == 1) & active(r)
    ended[-1] = False
    out_of_range = (z < 0.2) | (z > 1.0)
    np.testing.assert_array_equal(ended[:-1], out_of_range[:-1] & active(r)[:-1])
    # an ant lifted so that its torso is above 1.0 ends; the same ant at rest does not
    env = r.bare
    state = env.reset(jax.random.PRNGKey(0))
    lifted = state.replace(pipeline_state=state.pipeline_state.replace(
        pos=state.pipeline_state.pos + jnp.array([0.0, 0.0, 1.05 - float(state.pipeline_state.pos[t, 2])])))
    zero = jnp.zeros(env.action_size)
    assert float(env.step(lifted, zero).done) == 1.0 and float(env.step(state, zero).done) == 0.0


def test_halfcheetah_is_planar():
    r = rollout("halfcheetah")
    pos = np.asarray(r.traj["pos"])
    np.testing.assert_allclose(pos[..., 1], pos[:1, ..., 1].repeat(len(pos), 0), atol=1e-6)
    # rotations only about y: x and z components of every quaternion stay 0
    rot = np.asarray(r.final.pipeline_state.rot)
    np.testing.assert_allclose(rot[..., [1, 3]], 0.0, atol=1e-5)


def test_humanoid_observation_layout_and_perturbed_start():
    r = rollout("humanoid")
    env, state = r.bare, member(r.final, 2)
    qp, obs = state.pipeline_state, state.obs
    cinert = np.asarray(obs[45:144]).reshape(11, 3, 3)
    np.testing.assert_allclose(cinert, cinert.transpose(0, 2, 1), atol=1e-4)
    assert np.all(np.linalg.eigvalsh(cinert) > 0)
    m, vel = np.asarray(env.sys.mass[env.moving]), np.asarray(qp.vel[env.moving])
    np.testing.assert_allclose(obs[144:177], (m[:, None] * vel / m.sum()).reshape(-1), rtol=1e-4, atol=1e-6)
    # the start is one physics step under a random action: the bodies already move
    start = r.start.pipeline_state
    assert np.abs(np.asarray(start.vel)).max() > 1e-3
    assert not np.allclose(start.vel[0], start.vel[2])
    assert np.all(np.asarray(r.start.obs[:, 210:227]) == 0.0)       # no torque applied yet


def _place_targets(r: Rollout, where):
    """The rollout's start with every member's target moved onto body `where`."""
    env = r.bare
    qp = r.start.pipeline_state
    pos = qp.pos.at[:, env.target].set(qp.pos[:, where] + jnp.array([0.0, 0.0, 0.5]))
    return r.start.replace(pipeline_state=qp.replace(pos=pos))


def test_fetch_observation_and_target_respawn():
    r = rollout("fetch")
    env, state = r.bare, member(r.final, 1)
    qp, obs, t = state.pipeline_state, state.obs, env.torso
    np.testing.assert_allclose(obs[0:3], rotate(jnp.array([1.0, 0, 0]), qp.rot[t]), atol=1e-6)
    np.testing.assert_allclose(obs[6], jnp.linalg.norm(qp.pos[env.target] - qp.pos[t]), rtol=1e-4)
    targets = np.asarray(r.start.pipeline_state.pos[:, env.target])
    dist = np.linalg.norm(targets[:, :2], axis=-1)
    assert np.all((dist >= 2.0) & (dist <= 17.0)) and np.all(targets[:, 2] == 1.0)
    # a target within reach is hit at once and re-spawns elsewhere
    final, traj = r.run(_place_targets(r, t), r.keys)
    hits = np.asarray(traj["metrics"]["hits"])
    assert np.all(hits[0] == 1.0)
    moved = np.asarray(traj["pos"][0, :, env.target]) - np.asarray(r.start.pipeline_state.pos[:, t])
    assert np.all(np.linalg.norm(moved, axis=-1) > 1.0)
    weighted = np.asarray(traj["metrics"]["weightedHits"][0])
    assert np.all(np.abs(weighted) <= 1.0) and np.any(weighted != 0.0)


def test_grasp_palm_is_kinematic_and_targets_respawn():
    r = rollout("grasp")
    env = r.bare
    palm = np.asarray(r.traj["pos"])[:, :, env.palm]                # [T, B, 3]
    start = np.asarray(r.start.pipeline_state.pos[:, env.palm])
    path = np.concatenate([start[None], palm])
    step = np.linalg.norm(np.diff(path, axis=0), axis=-1)
    assert step.max() <= 0.3 + 1e-5 and step.max() > 0.25
    # the palm goes 0.15 of the way to its (clipped) target
    low, high = np.array(env.palm_low), np.array(env.palm_high)
    target = low + (high - low) * (np.asarray(r.traj["action"])[0, :, 16:] + 1) / 2
    delta = target - start
    norm = np.linalg.norm(delta, axis=-1, keepdims=True)
    expected = start + 0.15 * delta * np.minimum(1.0, 2.0 / norm)
    np.testing.assert_allclose(palm[0], expected, rtol=1e-5, atol=1e-5)
    state = member(r.final, 0)
    qp, obs = state.pipeline_state, state.obs
    np.testing.assert_allclose(obs[0], jnp.linalg.norm(qp.pos[env.object] - qp.pos[env.palm]), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(obs[8:59]).reshape(17, 3)[env.palm], 0.0, atol=1e-6)
    # a target on the object is hit at once, pays 5 and re-spawns
    final, traj = r.run(_place_targets(r, env.object), r.keys)
    assert np.all(np.asarray(traj["metrics"]["hits"][0]) == 1.0)
    np.testing.assert_allclose(np.asarray(traj["metrics"]["targetHit"][0]), 5.0)
    obj = np.asarray(traj["pos"][0, :, env.object])
    assert np.all(np.linalg.norm(np.asarray(traj["pos"][0, :, env.target]) - obj, axis=-1) > 1.1 - 1e-6)


def test_params_are_the_system_and_gradients_flow():
    env = envs.make("halfcheetah")
    heavier = env.with_params(env.params.replace(mass=env.params.mass * 2.0))
    assert float(heavier.params.mass[0]) == pytest.approx(2 * float(env.params.mass[0]))
    state = env.reset(jax.random.PRNGKey(0))

    def run_reward(action):
        return env.step(state, action).metrics["reward_run"]

    action = jnp.full((7,), 0.3)
    eps = 1e-2
    probes = action + jnp.stack([eps, -eps])[:, None] * jnp.zeros(7).at[0].set(1.0)
    grad, values = jax.jit(lambda a: (jax.grad(run_reward)(a), jax.vmap(run_reward)(probes)))(action)
    assert np.all(np.isfinite(grad)) and np.abs(grad[:6]).max() > 0
    np.testing.assert_allclose(grad[0], (values[0] - values[1]) / (2 * eps), rtol=0.1, atol=1e-3)


def test_rest_pose_is_default_qp_kept_for_concrete_params_and_traced_under_with_params():
    from gambol.physics.rigid import default_qp
    env = envs.make("ant").unwrapped
    want = default_qp(env.params)
    got = env.rest_qp()
    assert env._rest_qp[0] is env.params                  # evaluated once, kept
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), got, want)
    # inside jit the kept pose is a constant: same start as the eager default_qp
    start = jax.jit(env.reset)(jax.random.PRNGKey(0)).pipeline_state
    np.testing.assert_allclose(start.pos, want.pos, atol=1e-6)
    # params traced through with_params (domain randomisation): the pose follows them
    def rest_z(scale):
        heavier = env.params.replace(mass=env.params.mass * scale)
        return env.with_params(heavier).rest_qp().pos[:, 2]
    zs = jax.vmap(rest_z)(jnp.asarray([1.0, 2.0]))
    np.testing.assert_allclose(zs[0], want.pos[:, 2], atol=1e-6)
    np.testing.assert_allclose(zs[1], want.pos[:, 2], atol=1e-6)
    # a different System object replaces the kept pose
    other = env.with_params(env.params.replace(mass=env.params.mass * 3.0))
    other.rest_qp()
    assert other._rest_qp[0] is other.params
