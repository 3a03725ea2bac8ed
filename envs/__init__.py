"""gambol.envs: the env contract, wrappers, registry, adapters and the envs themselves.

    env = gambol.envs.create("pendulum", episode_length=200, batch_size=64)
    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    state = jax.jit(env.step)(state, action)
"""

import pathlib

from gambol.envs import flocking
from gambol.envs.base import Box, Env, State, Wrapper, check_action
from gambol.envs import flock_envs
from gambol.envs.flock_envs import FlockEnv
from gambol.envs.ant import Ant
from gambol.envs.fetch import Fetch
from gambol.envs.grasp import Grasp
from gambol.envs.halfcheetah import Halfcheetah
from gambol.envs.humanoid import Humanoid
from gambol.envs.mjcf_envs import AntV5, HalfCheetahV5, HopperV5, HumanoidV5, MjcfEnv, Walker2dV5
from gambol.envs.mjcf_classic import InvertedDoublePendulumV5, InvertedPendulumV5, ReacherV5, SwimmerV5
from gambol.envs.recovery import grow_neighbor_lists, rollout
from gambol.envs.pendulum import Pendulum, PendulumParams
from gambol.envs.reacher import PointReacher, ReacherParams
from gambol.envs.registry import create, make, register, registered
from gambol.envs.tag import Tag, TagParams
from gambol.envs.wrappers import (ActionRepeatWrapper, AutoResetWrapper, EpisodeWrapper,
                                  VmapWrapper, domain_randomize)

ASSETS = pathlib.Path(__file__).parent / "assets"   # the shipped rigid-body specs (TOML)

register("pendulum", Pendulum)
register("point_reacher", PointReacher)
register("tag", Tag)
register("boids", flock_envs.boids, version=FlockEnv.version)
register("flock", flock_envs.flock, version=FlockEnv.version)
register("predator_prey", flock_envs.predator_prey, version=FlockEnv.version)

register("ant", Ant)
register("halfcheetah", Halfcheetah)
register("fetch", Fetch)
register("humanoid", Humanoid)
register("grasp", Grasp)
# gymnasium's v5 locomotion suite from its own XML files (envs/mjcf_envs.py)
register("mjcf_ant", AntV5)
register("mjcf_halfcheetah", HalfCheetahV5)
register("mjcf_hopper", HopperV5)
register("mjcf_walker2d", Walker2dV5)
register("mjcf_humanoid", HumanoidV5)
register("mjcf_swimmer", SwimmerV5)
register("mjcf_reacher", ReacherV5)
register("mjcf_inverted_pendulum", InvertedPendulumV5)
register("mjcf_inverted_double_pendulum", InvertedDoublePendulumV5)
# `register` also registers each with gymnasium: "gambol/<name>-v<version>" (gymnasium_adapter.py)


def to_gymnasium(env_or_name, **kwargs):
    """A `gymnasium.Env` over one env; see `gambol.envs.gymnasium_adapter`."""
    from gambol.envs.gymnasium_adapter import to_gymnasium as fn
    return fn(env_or_name, **kwargs)


def to_gymnasium_vector(env_or_name, num_envs: int, **kwargs):
    """A `gymnasium.vector.VectorEnv` over a batch; see `gambol.envs.gymnasium_adapter`."""
    from gambol.envs.gymnasium_adapter import to_gymnasium_vector as fn
    return fn(env_or_name, num_envs, **kwargs)


def to_sb3_vecenv(env_or_name, num_envs: int, **kwargs):
    """A stable-baselines3 `VecEnv` over a batch (needs the sb3 extra); see `gambol.envs.sb3_adapter`."""
    from gambol.envs.sb3_adapter import to_sb3_vecenv as fn
    return fn(env_or_name, num_envs, **kwargs)


def to_pettingzoo(env_or_name, **kwargs):
    """A `pettingzoo.ParallelEnv` over a multi-agent env (needs the pettingzoo extra)."""
    from gambol.envs.pettingzoo_adapter import to_pettingzoo as fn
    return fn(env_or_name, **kwargs)
