"""gymnasium adapters: gymnasium's own env checker, agreement with SyncVectorEnv in both
autoreset modes, the shared-policy team view, and host-side errors."""

import warnings

import gymnasium
import jax
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from gambol import envs


@pytest.mark.parametrize("name", ["pendulum", "point_reacher"])
def test_single_env_passes_gymnasiums_checker_without_warnings(name):
    env = gymnasium.make(f"gambol/{name}-v1", episode_length=20, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    assert env.observation_space.dtype == np.float32 and env.action_space.dtype == np.float32
    np.testing.assert_array_equal(env.action_space.low, -1.0)
    env.reset(seed=1)
    assert env.render().shape == (256, 256, 3)


def test_single_env_terminated_truncated_and_bad_input():
    env = envs.to_gymnasium("pendulum", episode_length=3)
    env.reset(seed=0)
    flags = [env.step(np.zeros(1, np.float32))[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    with pytest.raises(RuntimeError, match="finished episode; call reset"):
        env.step(np.zeros(1))
    env.reset()
    with pytest.raises(ValueError, match=r"action: expected shape \(1,\), got \(2,\)"):
        env.step(np.zeros(2))
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.array([np.inf]))
    obs, *_ = env.step(np.array([3]))     # integers are cast; out of bounds is clipped
    with pytest.raises(ValueError, match="multi-agent"):
        envs.to_gymnasium("tag")
    with pytest.raises(ValueError, match="AutoResetWrapper"):
        envs.to_gymnasium(envs.create("pendulum"))
    with pytest.raises(TypeError, match="only apply when an env name is given"):
        envs.to_gymnasium(envs.make("pendulum"), episode_length=3)


def test_single_env_reports_termination():
    reacher = envs.PointReacher(params=envs.ReacherParams(target_radius=5.0))
    env = envs.to_gymnasium(envs.EpisodeWrapper(reacher, 10))
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(np.zeros(2))
    assert terminated and not truncated and info["success"] == 1


def _same(x, y):
    if isinstance(x, tuple):
        assert len(x) == len(y)
        for a, b in zip(x, y):
            _same(a, b)
    elif isinstance(x, dict):
        assert set(x) == set(y), (sorted(x), sorted(y))
        for k in x:
            _same(x[k], y[k])
    elif isinstance(x, np.ndarray) and x.dtype == object:
        for a, b in zip(x, y):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, atol=2e-5)
    else:
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_allclose(x, y, atol=2e-5)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_matches_a_sync_vector_env_of_single_adapters(mode):
    def reacher():
        return envs.EpisodeWrapper(envs.PointReacher(params=envs.ReacherParams(target_radius=0.5)), 6)

    vec = envs.to_gymnasium_vector(reacher(), 5, autoreset_mode=mode)
    ref = SyncVectorEnv([lambda: envs.to_gymnasium(reacher()) for _ in range(5)], autoreset_mode=mode)
    assert vec.metadata["autoreset_mode"] == mode
    assert vec.single_observation_space == ref.single_observation_space
    assert vec.observation_space == ref.observation_space and vec.action_space == ref.action_space
    _same(vec.reset(seed=11), ref.reset(seed=11))
    rng = np.random.default_rng(0)
    ended = []
    for _ in range(16):
        a = rng.uniform(-1, 1, size=(5, 2)).astype(np.float32)
        out, want = vec.step(a), ref.step(a)
        for x, y in zip(out, want):
            _same(x, y)
        ended.append(out[2] | out[3])
    ended = np.array(ended)
    assert ended.any() and not (ended.all(axis=1) == ended.any(axis=1)).all(), "needs staggered ends"
    _same(vec.reset(), ref.reset())


def test_vector_env_rejects_bad_actions_and_modes():
    vec = envs.to_gymnasium_vector("pendulum", 3)
    with pytest.raises(RuntimeError, match="before reset"):
        vec.step(np.zeros((3, 1)))
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(3, 1\), got \(3,\)"):
        vec.step(np.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        vec.step(np.full((3, 1), np.nan))
    with pytest.raises(ValueError, match="autoreset_mode"):
        envs.to_gymnasium_vector("pendulum", 3, autoreset_mode=AutoresetMode.DISABLED)
    with pytest.raises(ValueError, match="num_envs"):
        envs.to_gymnasium_vector("pendulum", 0)
    with pytest.raises(ValueError, match=r"pass team= one of \['predator', 'prey'\]"):
        envs.to_gymnasium_vector("tag", 2)
    with pytest.raises(ValueError, match="team: expected one of"):
        envs.to_gymnasium_vector("tag", 2, team="wolf")


def test_shared_policy_view_slots_are_a_teams_agents_across_the_batch():
    vec = envs.to_gymnasium_vector("tag", 2, team="prey", episode_length=5)
    assert vec.num_envs == 2 * 3 and vec.single_action_space.shape == (2,)
    obs, _ = vec.reset(seed=4)
    assert obs.shape == (6, 10)
    # the same step through the raw env: prey act as given, predators follow the script
    raw = envs.VmapWrapper(envs.create("tag", episode_length=5, auto_reset=False), 2)
    state = vec._state
    np.testing.assert_allclose(obs, np.asarray(state.obs["prey"]).reshape(6, 10))
    a = np.random.default_rng(0).uniform(-1, 1, (6, 2)).astype(np.float32)
    ref = raw.step(state, {"predator": raw.scripted_action(state)["predator"], "prey": a.reshape(2, 3, 2)})
    obs, reward, terminated, truncated, info = vec.step(a)
    np.testing.assert_allclose(obs, np.asarray(ref.obs["prey"]).reshape(6, 10), atol=1e-5)
    np.testing.assert_allclose(reward, np.asarray(ref.reward["prey"]).reshape(6), atol=1e-6)
    assert set(info) == {"captures", "_captures"}
    for _ in range(4):
        *_, terminated, truncated, _ = vec.step(a)
    assert truncated.all() and not terminated.any()


def test_vector_render_gives_one_frame_per_member():
    vec = envs.to_gymnasium_vector("pendulum", 2, render_mode="rgb_array")
    vec.reset(seed=0)
    frames = vec.render()
    assert len(frames) == 2 and frames[0].shape == (256, 256, 3)
    assert not np.array_equal(frames[0], frames[1])


def test_gymnasium_make_vec_uses_the_batched_adapter():
    vec = gymnasium.make_vec("gambol/pendulum-v1", num_envs=4, vectorization_mode="vector_entry_point",
                             episode_length=10)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (4, 3)
    keys = [jax.random.split(jax.random.PRNGKey(i))[1] for i in range(4)]
    single = envs.make("pendulum")
    np.testing.assert_allclose(obs, np.stack([single.reset(k).obs for k in keys]), rtol=1e-6)


def test_every_registered_env_is_a_gymnasium_id_with_its_version_and_episode_limit():
    ids = {name: f"gambol/{name}-v{envs.gymnasium_adapter.gymnasium_version(name)}"
           for name in envs.registered()}
    assert ids["ant"] == "gambol/ant-v2" and ids["halfcheetah"] == "gambol/halfcheetah-v2"
    assert ids["pendulum"] == "gambol/pendulum-v1" and ids["flock"] == f"gambol/flock-v{envs.FlockEnv.version}"
    assert ids["mjcf_ant"] == "gambol/mjcf_ant-v5"
    for name, env_id in ids.items():
        spec = gymnasium.spec(env_id)
        assert spec.max_episode_steps == envs.registry.default_episode_length(name), env_id
    assert gymnasium.spec("gambol/pendulum-v1").max_episode_steps == 200     # as Pendulum-v1
    assert not any(k.startswith("gambol/ant-vant") for k in gymnasium.registry)


def test_gymnasium_make_pendulum_runs_200_step_episodes():
    env = gymnasium.make("gambol/pendulum-v1")
    env.reset(seed=0)
    for step in range(1, 201):
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        assert not terminated and truncated == (step == 200)


def test_gymnasium_make_builds_a_rigid_env():
    env = gymnasium.make("gambol/halfcheetah-v2", episode_length=4)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (25,) and env.action_space.shape == (7,)
    obs, reward, *_ = env.step(env.action_space.sample())
    assert np.all(np.isfinite(obs)) and np.isfinite(reward)


def test_a_multi_agent_id_controls_one_team_jointly():
    env = gymnasium.make("gambol/tag-v1", episode_length=5, team="prey")
    inner = env.unwrapped
    assert env.observation_space.shape == (3 * 10,) and env.action_space.shape == (3 * 2,)
    assert gymnasium.make("gambol/tag-v1").unwrapped.team == "predator"    # the first team
    obs, _ = env.reset(seed=2)
    state = inner._state
    np.testing.assert_allclose(obs, np.asarray(state.obs["prey"]).reshape(-1))
    a = np.random.default_rng(0).uniform(-1, 1, 6).astype(np.float32)
    # agent i of the team owns entries 2 i, 2 i + 1; the predators follow their script
    raw = envs.create("tag", episode_length=5, auto_reset=False)
    ref = raw.step(state, {**raw.scripted_action(state), "prey": a.reshape(3, 2)})
    obs, reward, *_ = env.step(a)
    np.testing.assert_allclose(obs, np.asarray(ref.obs["prey"]).reshape(-1), atol=1e-5)
    assert reward == pytest.approx(float(np.mean(ref.reward["prey"])), abs=1e-6)
    vec = gymnasium.make_vec("gambol/tag-v1", num_envs=4, vectorization_mode="vector_entry_point",
                             episode_length=5)
    assert vec.num_envs == 4 * 2 and vec.env.episode_length == 5     # the predators' slots


def test_adapters_pickle_and_continue_where_they_were():
    import pickle
    single, vec = envs.to_gymnasium("pendulum"), envs.to_gymnasium_vector("pendulum", 3)
    single.reset(seed=3)
    vec.reset(seed=3)
    single_copy, vec_copy = pickle.loads(pickle.dumps(single)), pickle.loads(pickle.dumps(vec))
    a = np.full(1, 0.5, np.float32)
    np.testing.assert_array_equal(single.step(a)[0], single_copy.step(a)[0])
    np.testing.assert_array_equal(vec.step(np.tile(a, (3, 1)))[0], vec_copy.step(np.tile(a, (3, 1)))[0])


def test_human_render_mode_shows_frames_in_a_window():
    import matplotlib
    matplotlib.use("Agg")
    env = envs.to_gymnasium("pendulum", render_mode="human")
    env.reset(seed=0)
    env.step(np.zeros(1, np.float32))
    shown = np.asarray(env._window.image.get_array())
    np.testing.assert_array_equal(shown, env.env.render(env._state))
    assert env.render() is None
    env.close()
    with pytest.raises(ValueError, match=r"render_mode: expected one of \[None, 'rgb_array', 'human'\]"):
        envs.to_gymnasium("pendulum", render_mode="ansi")
