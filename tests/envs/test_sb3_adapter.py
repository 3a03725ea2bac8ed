"""envs/sb3_adapter.py with the real stable-baselines3 (`make test-sb3`; skipped without it):
step for step the same as SB3's own DummyVecEnv of single adapters, its wrappers run on it,
and SB3's PPO learns pendulum through it."""

import numpy as np
import pytest

sb3 = pytest.importorskip("stable_baselines3")
torch = pytest.importorskip("torch")
torch.set_num_threads(1)          # small networks: threads only contend on a shared machine

from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize  # noqa: E402

from gambol import envs  # noqa: E402


def _reacher():
    return envs.EpisodeWrapper(envs.PointReacher(params=envs.ReacherParams(target_radius=0.5)), 6)


def test_matches_sb3s_dummy_vec_env_of_single_adapters_step_for_step():
    ours = envs.to_sb3_vecenv(_reacher(), 5)
    ref = DummyVecEnv([lambda: envs.to_gymnasium(_reacher()) for _ in range(5)])
    assert ours.num_envs == 5 and ours.observation_space == ref.observation_space
    assert ours.action_space == ref.action_space
    ours.seed(11)
    ref.seed(11)
    np.testing.assert_allclose(ours.reset(), ref.reset(), atol=2e-5)
    rng = np.random.default_rng(0)
    ended = []
    for _ in range(16):
        a = rng.uniform(-1, 1, size=(5, 2)).astype(np.float32)
        obs, reward, done, infos = ours.step(a)
        obs_ref, reward_ref, done_ref, infos_ref = ref.step(a)
        np.testing.assert_allclose(obs, obs_ref, atol=2e-5)
        np.testing.assert_allclose(reward, reward_ref, atol=2e-5)
        np.testing.assert_array_equal(done, done_ref)
        for info, info_ref in zip(infos, infos_ref):
            assert ("terminal_observation" in info) == ("terminal_observation" in info_ref)
            if "terminal_observation" in info:
                np.testing.assert_allclose(info["terminal_observation"], info_ref["terminal_observation"],
                                           atol=2e-5)
                assert info["TimeLimit.truncated"] == info_ref["TimeLimit.truncated"]
            assert info["success"] == pytest.approx(info_ref["success"])
        ended.append(done)
    ended = np.array(ended)
    assert ended.any() and not (ended.all(axis=1) == ended.any(axis=1)).all(), "needs staggered ends"


def test_sb3_wrappers_run_on_it_and_a_team_is_slots():
    venv = VecNormalize(VecMonitor(envs.to_sb3_vecenv("pendulum", 3, episode_length=4)))
    venv.reset()
    for _ in range(4):
        obs, reward, done, infos = venv.step(np.zeros((3, 1), np.float32))
    assert done.all() and all("episode" in i and i["episode"]["l"] == 4 for i in infos)
    prey = envs.to_sb3_vecenv("tag", 2, team="prey", episode_length=5)
    assert prey.num_envs == 6 and prey.reset().shape == (6, 10)
    assert prey.get_attr("render_mode") == [None] * 6 and prey.env_is_wrapped(VecMonitor) == [False] * 6
    with pytest.raises(ValueError, match="autoreset_mode SAME_STEP"):
        from gambol.envs.sb3_adapter import SB3VecEnv
        SB3VecEnv(envs.to_gymnasium_vector("pendulum", 2))


def _mean_return(model, episodes: int = 16) -> float:
    env = envs.to_sb3_vecenv("pendulum", episodes)
    env.seed(100)
    obs, total = env.reset(), np.zeros(episodes)
    for _ in range(200):
        obs, reward, done, _ = env.step(model.predict(obs, deterministic=True)[0])
        total += reward
    return float(total.mean())


def test_sb3_ppo_learns_pendulum_through_it():
    from stable_baselines3 import PPO
    venv = VecNormalize(envs.to_sb3_vecenv("pendulum", 4), norm_reward=True)
    # rl-zoo's Pendulum-v1 PPO settings, at a fraction of its 10^5 steps
    model = PPO("MlpPolicy", venv, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
                learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4, seed=0, device="cpu")
    untrained = _mean_return(_Normalized(model, venv))
    model.learn(TIMESTEPS)
    trained = _mean_return(_Normalized(model, venv))
    # hanging at the bottom costs about -1200 per 200-step episode; a policy that swings up, -200
    assert untrained < -900 and trained > untrained + 400, (untrained, trained)


TIMESTEPS = 40_960


class _Normalized:
    """The model acting on observations normalised as it was trained."""

    def __init__(self, model, venv):
        self.model, self.venv = model, venv

    def predict(self, obs, deterministic=True):
        return self.model.predict(self.venv.normalize_obs(obs), deterministic=deterministic)
