"""gymnasium's v5 locomotion suite on the spring engine (envs/mjcf_envs.py):
sizes, reward terms, healthy rules on constructed states, reset noise, the
generalized coordinates against MuJoCo's, and a short batched rollout."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol import envs
from gambol.physics.rigid import joint_angles

SIZES = {"mjcf_hopper": (11, 3), "mjcf_walker2d": (17, 6), "mjcf_halfcheetah": (17, 6), "mjcf_ant": (105, 8),
         "mjcf_humanoid": (348, 17), "mjcf_swimmer": (8, 2), "mjcf_reacher": (10, 2), "mjcf_inverted_pendulum": (4, 1),
         "mjcf_inverted_double_pendulum": (9, 1)}
CTRL = {"mjcf_humanoid": 0.4, "mjcf_inverted_pendulum": 3.0}          # ctrlrange bound, else 1


@pytest.fixture(scope="module")
def made():
    return {name: envs.make(name) for name in SIZES}


def _generalized(env, qp):
    return env.generalized(qp, *joint_angles(env.sys, qp))


_PLACED = {}


def _placed(env, dq, dv=None):
    """(qp, qpos, qvel) of `env.place(dq, dv)`, jitted once per env."""
    if env not in _PLACED:
        _PLACED[env] = jax.jit(lambda dq, dv: (env.place(dq, dv),) + _generalized(env, env.place(dq, dv)))
    dv = jnp.zeros(env.nv) if dv is None else dv
    return _PLACED[env](jnp.asarray(dq, jnp.float32), jnp.asarray(dv, jnp.float32))


@pytest.mark.parametrize("name", SIZES)
def test_sizes_bounds_and_gymnasium_ids(made, name):
    env = made[name]
    assert (env.observation_size, env.action_size) == SIZES[name]
    bound = CTRL.get(name, 1.0)
    assert env.action_spec.high.max() == pytest.approx(bound) and env.action_spec.low.min() == pytest.approx(-bound)
    assert f"gambol/{name}-v5" in gymnasium.registry


@pytest.mark.parametrize("name", ["mjcf_hopper", "mjcf_ant"])
def test_place_and_generalized_round_trip(made, name):
    # place(dq, dv) puts the rest pose at qpos0 + dq, qvel dv (the ant's
    # quaternion is normalised, so its 4 entries are left out)
    env = made[name]
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    dq = jax.random.uniform(k1, (env.nq,), minval=-0.1, maxval=0.1)
    dv = jax.random.uniform(k2, (env.nv,), minval=-0.5, maxval=0.5)
    q0, _ = _generalized(env, env.rest_qp())
    _, q, v = _placed(env, dq, dv)
    keep = np.r_[0:3, 7:env.nq] if name == "mjcf_ant" else np.arange(env.nq)
    np.testing.assert_allclose(q[keep], (q0 + dq)[keep], atol=2e-5)
    np.testing.assert_allclose(v, dv, atol=2e-5)


@pytest.mark.parametrize("name,xml", [("mjcf_hopper", "hopper.xml"), ("mjcf_ant", "ant.xml"),
                                      ("mjcf_humanoid", "humanoid.xml"), ("mjcf_reacher", "reacher.xml"),
                                      ("mjcf_inverted_double_pendulum", "inverted_double_pendulum.xml")])
def test_generalized_coordinates_match_mujoco(made, name, xml):
    # the same (qpos, qvel) in both: every body's centre of mass (MuJoCo's
    # bodies welded into one engine body combined) and angular velocity agree
    mujoco = pytest.importorskip("mujoco")
    env = made[name]
    model = mujoco.MjModel.from_xml_path(str(envs.mjcf_envs.gymnasium_xml(xml)))
    data = mujoco.MjData(model)
    assert [model.joint(i).name for i in range(model.njnt)] == list(env.mjcf.joints)   # qpos order
    dq = np.array(jax.random.uniform(jax.random.PRNGKey(2), (env.nq,), minval=-0.3, maxval=0.3))
    dv = np.array(jax.random.uniform(jax.random.PRNGKey(3), (env.nv,), minval=-1.0, maxval=1.0))
    q0 = _placed(env, np.zeros(env.nq))[1]
    qp, q, _ = _placed(env, dq, dv)
    data.qpos[:] = np.asarray(q0) + dq
    if name == "mjcf_ant":
        data.qpos[3:7] = q[3:7]                   # the normalised quaternion
    data.qvel[:] = dv
    mujoco.mj_forward(model, data)
    mass, moment = {}, {}
    for i in range(1, model.nbody):
        body = env.sys.body_index(env.mjcf.bodies[model.body(i).name or f"body{i}"])
        mass[body] = mass.get(body, 0.0) + model.body_mass[i]
        moment[body] = moment.get(body, 0.0) + model.body_mass[i] * data.xipos[i]
        np.testing.assert_allclose(qp.ang[body], data.cvel[i][:3], atol=1e-5, err_msg=model.body(i).name)
    for body in mass:
        np.testing.assert_allclose(qp.pos[body], moment[body] / mass[body], atol=1e-5)


def _healthy_at(env, moves):
    """env.healthy at the rest pose with qpos[k] moved by v for (k, v) in `moves`."""
    dq = np.zeros(env.nq, np.float32)
    for k, v in moves:
        dq[k] = v
    return bool(env.healthy(*_placed(env, dq)[1:]))


def test_healthy_rules_on_constructed_states(made):
    hopper, walker, ant = made["mjcf_hopper"], made["mjcf_walker2d"], made["mjcf_ant"]
    assert not made["mjcf_halfcheetah"].terminate_when_unhealthy          # never ends
    # hopper: z = qpos[1] > 0.7 (rests at 1.25), |angle = qpos[2]| < 0.2
    assert _healthy_at(hopper, [])
    assert not _healthy_at(hopper, [(1, -0.6)])
    assert _healthy_at(hopper, [(1, -0.5), (2, 0.19)])
    assert not _healthy_at(hopper, [(2, 0.21)]) and not _healthy_at(hopper, [(2, -0.21)])
    qpos, qvel = _generalized(hopper, hopper.rest_qp())
    assert not bool(hopper.healthy(qpos, qvel.at[3].set(101.0)))      # state range (-100, 100)
    # walker2d: 0.8 < z < 2, -1 < angle < 1
    assert _healthy_at(walker, [(2, 0.9)])
    assert not _healthy_at(walker, [(1, -0.5)]) and not _healthy_at(walker, [(1, 0.8)])
    assert not _healthy_at(walker, [(2, -1.1)])
    # ant: 0.2 <= z = qpos[2] <= 1 and finite
    assert _healthy_at(ant, [])
    assert not _healthy_at(ant, [(2, 0.2)]) and not _healthy_at(ant, [(2, -0.7)])
    qpos, qvel = _generalized(ant, ant.rest_qp())
    assert not bool(ant.healthy(qpos, qvel.at[0].set(jnp.nan)))
    # humanoid: 1 < z = qpos[2] < 2 (rests at 1.4)
    humanoid = made["mjcf_humanoid"]
    assert _healthy_at(humanoid, [(2, -0.39)]) and _healthy_at(humanoid, [(2, 0.59)])
    assert not _healthy_at(humanoid, [(2, -0.41)]) and not _healthy_at(humanoid, [(2, 0.61)])


@pytest.mark.parametrize("name,scale,gaussian", [("mjcf_hopper", 5e-3, False), ("mjcf_halfcheetah", 0.1, True),
                                                ("mjcf_inverted_pendulum", 0.01, False)])
def test_reset_noise_scale(made, name, scale, gaussian):
    env = made[name]
    obs = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(3), 512)).obs
    q0, v0 = _generalized(env, env.rest_qp())
    rest = np.concatenate([q0[env.skipped_qpos:], v0])
    d = np.asarray(obs) - rest
    n = env.nq - env.skipped_qpos
    dq, dv = d[:, :n], d[:, n:]
    assert np.abs(dq).max() <= scale * 1.001 and np.abs(dq).max() > 0.95 * scale   # U(-s, s)
    if gaussian:
        assert np.std(dv) == pytest.approx(scale, rel=0.1)
    else:
        assert np.abs(dv).max() <= scale * 1.001 and np.abs(dv).max() > 0.95 * scale


@pytest.mark.parametrize("name", ["mjcf_hopper", "mjcf_ant", "mjcf_humanoid", "mjcf_inverted_double_pendulum"])
def test_batched_rollout_finite_terms_sum_and_done_rule(name):
    batch, steps = 4, 8
    env = envs.create(name, episode_length=1000, batch_size=batch, auto_reset=False)
    bare = env.unwrapped
    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    lo, hi = bare.action_spec.low, bare.action_spec.high

    def body(state, key):
        action = jax.random.uniform(key, (batch, env.action_size), minval=lo, maxval=hi)
        state = env.step(state, action)
        return state, state

    _, states = jax.jit(lambda s, k: jax.lax.scan(body, s, k))(state, jax.random.split(jax.random.PRNGKey(1), steps))
    for leaf in jax.tree.leaves((states.obs, states.reward, states.pipeline_state)):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert states.obs.shape == (steps, batch, SIZES[name][0])
    terms = sum(states.metrics[k] for k in bare.reward_terms)
    live = np.asarray(states.reward) != 0          # finished members are absorbing, reward 0
    np.testing.assert_allclose(np.asarray(states.reward)[live], np.asarray(terms)[live], rtol=1e-5, atol=1e-5)
    if name == "mjcf_hopper":                       # obs[0] = z, obs[1] = angle
        z, angle = np.asarray(states.obs[..., 0]), np.asarray(states.obs[..., 1])
        first = np.cumsum(np.asarray(states.done), axis=0) <= 1
        unhealthy = ~((z > 0.7) & (np.abs(angle) < 0.2))
        np.testing.assert_array_equal(np.asarray(states.done)[first] > 0, unhealthy[first])


def test_reacher_reset_target_in_disc_arm_near_rest(made):
    # gymnasium: target uniform in the disc of radius 0.2 (rejection
    # sampling), at rest; arm angles U(-0.1, 0.1), speeds U(-0.005, 0.005)
    env = made["mjcf_reacher"]
    obs = np.asarray(jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(4), 256)).obs)
    target, cos, speeds = obs[:, 4:6], obs[:, 0:2], obs[:, 6:8]
    assert np.linalg.norm(target, axis=1).max() < 0.2 and np.abs(target).max() > 0.15
    assert cos.min() >= np.cos(0.1) - 1e-6 and np.abs(speeds).max() <= 0.005 * 1.001
    qp = jax.jit(env.reset)(jax.random.PRNGKey(5)).pipeline_state
    finger = np.asarray(env.to_target(qp) + env.body_origin(qp, "target"))
    np.testing.assert_allclose(np.linalg.norm(finger[:2]), 0.21, atol=1e-4)      # link lengths 0.1 + 0.11


def test_pendulum_termination_rules(made):
    # inverted pendulum: ends when |pole angle| > 0.2; double: when the tip's z <= 1
    single, double = made["mjcf_inverted_pendulum"], made["mjcf_inverted_double_pendulum"]
    assert _healthy_at(single, [(1, 0.19)]) and not _healthy_at(single, [(1, 0.21)])
    assert not _healthy_at(single, [(1, -0.21)])
    for angle, ended in ((0.0, False), (0.5, False), (1.0, True)):     # tip z = 0.6 (cos a1 + cos(a1 + a2))
        qp = _placed(double, np.array([0.0, angle, 0.0]))[0]
        assert float(double.tip(qp)[2]) == pytest.approx(1.2 * np.cos(angle), abs=2e-3)
        assert (float(double.tip(qp)[2]) <= 1) == ended
