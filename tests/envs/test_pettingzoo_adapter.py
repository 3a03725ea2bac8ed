"""PettingZoo adapter: PettingZoo's own API and seed tests, agent ids, per-agent
spaces and rewards against the raw env, and errors."""

import numpy as np
import pytest

pettingzoo_test = pytest.importorskip("pettingzoo.test")

from gambol import envs  # noqa: E402


def test_parallel_env_passes_pettingzoos_api_and_seed_tests():
    env = envs.to_pettingzoo("tag", episode_length=40)
    pettingzoo_test.parallel_api_test(env, num_cycles=60)
    pettingzoo_test.parallel_seed_test(lambda: envs.to_pettingzoo("tag", episode_length=40))


def test_agent_ids_spaces_and_rewards_follow_the_teams():
    env = envs.to_pettingzoo("tag", num_predators=1, num_prey=2, episode_length=3, render_mode="rgb_array")
    assert env.possible_agents == ["predator_0", "prey_0", "prey_1"]
    assert env.observation_space("prey_1").shape == (2 + 2 * 2,)
    assert env.action_space("predator_0").shape == (2,)
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(infos) == set(env.agents)
    actions = {a: env.action_space(a).sample() for a in env.agents}
    before = env._state
    obs, rew, term, trunc, _ = env.step(actions)
    ref = env.env.step(before, {"predator": np.stack([actions["predator_0"]]),
                                "prey": np.stack([actions["prey_0"], actions["prey_1"]])})
    np.testing.assert_allclose(obs["prey_1"], ref.obs["prey"][1], atol=1e-5)
    assert rew["predator_0"] == pytest.approx(float(ref.reward["predator"][0]))
    assert env.render().shape == (256, 256, 3)
    assert env.state().shape == (3 * 6,)
    with pytest.raises(KeyError, match=r"missing agents \['prey_1'\]"):
        env.step({a: actions[a] for a in ["predator_0", "prey_0"]})
    with pytest.raises(KeyError, match=r"unknown agents \['wolf_0'\]"):
        env.step({**actions, "wolf_0": np.zeros(2)})
    with pytest.raises(ValueError, match=r"expected shape \(2,\)"):
        env.step({**actions, "prey_0": np.zeros(3)})
    env.step(actions)
    *_, trunc, _ = env.step(actions)
    assert all(trunc.values()) and env.agents == []
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step(actions)
    with pytest.raises(ValueError, match="single-agent"):
        envs.to_pettingzoo("pendulum")
