"""Registry: create stacks the wrappers; unknown names and keywords list what exists."""

import gymnasium
import jax
import pytest

from gambol import envs
from gambol.envs import wrappers


def test_create_stacks_the_standard_wrappers_in_order():
    env = envs.create("pendulum", episode_length=10, action_repeat=2, batch_size=3)
    layers = []
    e = env
    while hasattr(e, "env"):
        layers.append(type(e))
        e = e.env
    assert layers == [wrappers.AutoResetWrapper, wrappers.VmapWrapper, wrappers.EpisodeWrapper,
                      wrappers.ActionRepeatWrapper]
    assert isinstance(e, envs.Pendulum) and env.unwrapped is e
    assert env.batch_size == 3 and env.observation_size == 3 and env.action_size == 1
    assert envs.create("tag").agents == {"predator": 2, "prey": 3}
    assert envs.create("tag").observation_size == {"predator": 10, "prey": 10}


def test_unknown_name_suggests_the_closest_and_lists_the_registered_envs():
    with pytest.raises(KeyError, match=r"unknown env 'pendullum' \(did you mean 'pendulum'\?\); "
                                       r"registered envs: \[.*'pendulum'"):
        envs.create("pendullum")
    with pytest.raises(KeyError, match=r"unknown env 'zzz'; registered envs"):
        envs.make("zzz")


def test_pendulum_episodes_last_200_steps_like_pendulum_v1_unless_told():
    assert envs.create("pendulum").episode_length == 200
    assert envs.create("pendulum", episode_length=50).episode_length == 50
    assert envs.create("point_reacher").episode_length == 1000
    assert not hasattr(envs.create("pendulum", episode_length=None, auto_reset=False), "episode_length")


def test_unknown_keyword_lists_the_accepted_ones():
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['max_sped'\].*'max_speed'.*episode_length"):
        envs.create("pendulum", max_sped=3.0)


def test_register_a_new_env_and_refuse_silent_replacement():
    def factory(max_speed: float = 4.0):
        return envs.Pendulum(max_speed=max_speed)

    envs.register("slow_pendulum_for_test", factory)
    env = envs.create("slow_pendulum_for_test", max_speed=2.0, episode_length=5, auto_reset=False)
    assert env.unwrapped.max_speed == 2.0
    # registered with gymnasium too, as the README says (no version attribute: v0)
    gym_env = gymnasium.make("gambol/slow_pendulum_for_test-v0", max_speed=2.0)
    assert gym_env.unwrapped.env.unwrapped.max_speed == 2.0 and gym_env.spec.max_episode_steps == 1000
    state = env.reset(jax.random.PRNGKey(0))
    assert state.obs.shape == (3,)
    with pytest.raises(ValueError, match="already registered"):
        envs.register("slow_pendulum_for_test", lambda: envs.Pendulum())
    envs.register("slow_pendulum_for_test", lambda: envs.Pendulum(), override=True)
    with pytest.raises(TypeError, match="factory must be callable"):
        envs.register("broken", 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(episode_length=0), "episode_length: expected a positive int, got 0"),
    (dict(action_repeat=1.5), "action_repeat: expected a positive int, got 1.5"),
    (dict(batch_size=-2), "batch_size: expected a positive int, got -2"),
])
def test_wrapper_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        envs.create("pendulum", **kwargs)
