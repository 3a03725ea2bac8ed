"""What every trainer sets itself up with (the loop that runs it is `training.loop`).

- `configure`, `check_positive`: a config dataclass with keyword overrides, and
  errors that name the field, what was expected and what came.
- `make_envs`, `config_envs`: the batched training env and the evaluation env
  from a registered name, a bare Env or an already batched one.
- `policy_network`: the one policy network builder (one network per team for
  multi-agent envs) every trainer uses.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gambol import agents
from gambol.agents import distributions
from gambol.envs import registry
from gambol.envs.base import Env, Wrapper
from gambol.envs.wrappers import ActionRepeatWrapper, AutoResetWrapper, EpisodeWrapper, VmapWrapper


# -- config ---------------------------------------------------------------------------------

def configure(config_cls, config=None, overrides: dict | None = None):
    """`config` (default `config_cls()`) with `overrides` replaced; an unknown
    keyword raises a TypeError listing the valid ones."""
    overrides = overrides or {}
    valid = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TypeError(f"{config_cls.__name__}: unknown keyword(s) {unknown}; valid: {valid}")
    if config is None:
        config = config_cls()
    elif not isinstance(config, config_cls):
        raise TypeError(f"config: expected a {config_cls.__name__}, got {type(config).__name__}")
    return dataclasses.replace(config, **overrides)


def is_positive_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def check_positive(config, ints: Sequence[str] = (), floats: Sequence[str] = ()) -> None:
    """Raise a ValueError naming the first field of `config` in `ints` that is
    not a positive int, or in `floats` that is not > 0."""
    name = type(config).__name__
    for field in ints:
        value = getattr(config, field)
        if not is_positive_int(value):
            raise ValueError(f"{name}.{field}: expected a positive int, got {value!r}")
    for field in floats:
        value = getattr(config, field)
        if not value > 0:
            raise ValueError(f"{name}.{field}: expected > 0, got {value!r}")


def check_num_timesteps(num_timesteps) -> None:
    if not is_positive_int(num_timesteps):
        raise ValueError(f"num_timesteps: expected a positive int, got {num_timesteps!r}")


# -- environments ------------------------------------------------------------------------------

def layers(env: Env) -> list[Env]:
    """`env` and every env it wraps, outermost first."""
    out = [env]
    while isinstance(out[-1], Wrapper):
        out.append(out[-1].env)
    return out


def _find(env: Env, kind: type):
    return next((e for e in layers(env) if isinstance(e, kind)), None)


def _check_wrappers(env: Env, episode_length: int, action_repeat: int, batched: bool) -> Env:
    """An unbatched `env` with EpisodeWrapper (and ActionRepeatWrapper) added where
    missing; a batched one as it is. Wrappers already there must agree."""
    episode, repeat = _find(env, EpisodeWrapper), _find(env, ActionRepeatWrapper)
    if episode is not None and episode.episode_length != episode_length:
        raise ValueError(f"environment: its EpisodeWrapper has episode_length={episode.episode_length}, "
                         f"but the trainer's episode_length is {episode_length}")
    if repeat is not None and repeat.repeat != action_repeat:
        raise ValueError(f"environment: its ActionRepeatWrapper has repeat={repeat.repeat}, "
                         f"but the trainer's action_repeat is {action_repeat}")
    if batched:
        if episode is None:
            raise ValueError("environment: a batched env needs an EpisodeWrapper inside its "
                             "VmapWrapper (gambol.envs.create(..., episode_length=...))")
        if repeat is None and action_repeat != 1:
            raise ValueError(f"environment: action_repeat={action_repeat}, but the batched env has "
                             f"no ActionRepeatWrapper")
        return env
    if repeat is None and action_repeat != 1:
        if episode is not None:
            raise ValueError(f"environment: action_repeat={action_repeat} needs the ActionRepeatWrapper "
                             f"inside the env's EpisodeWrapper; pass the env without either")
        env = ActionRepeatWrapper(env, action_repeat)
    return env if episode is not None else EpisodeWrapper(env, episode_length)


def make_envs(environment: str | Env, *, batch_size: int, eval_batch_size: int,
              episode_length: int, auto_reset: bool, action_repeat: int = 1,
              env_kwargs: dict | None = None, batch_field: str = "num_envs") -> tuple[Env, Env]:
    """`(train_env, eval_env)`: `batch_size` members (auto-resetting with
    `auto_reset`) to train on, and `eval_batch_size` members that do not reset
    (a finished episode absorbs) to evaluate on.

    `environment` is a registered name (built by `gambol.envs.create` with
    `env_kwargs`), an unbatched Env (gets an `ActionRepeatWrapper` and an
    `EpisodeWrapper` unless it has them, then a `VmapWrapper`), or an Env
    batched with `batch_size` members and an EpisodeWrapper inside (its outer
    `AutoResetWrapper`, if any, is kept for training). Wrappers it has must
    agree with `episode_length` and `action_repeat`; `batch_field` names the
    batch size in errors.
    """
    if isinstance(environment, str):
        common = dict(episode_length=episode_length, action_repeat=action_repeat, **(env_kwargs or {}))
        return (registry.create(environment, batch_size=batch_size, auto_reset=auto_reset, **common),
                registry.create(environment, batch_size=eval_batch_size, auto_reset=False, **common))
    if not isinstance(environment, Env):
        raise TypeError(f"environment: expected a gambol Env or a registered name, "
                        f"got {type(environment).__name__}")
    if env_kwargs:
        raise ValueError(f"env_kwargs: only used with a registered env name, got {sorted(env_kwargs)}")
    outer = environment if isinstance(environment, AutoResetWrapper) else None
    base = environment.env if outer is not None else environment
    if any(isinstance(e, AutoResetWrapper) for e in layers(base)):
        raise ValueError("environment: AutoResetWrapper must be the outermost wrapper; "
                         "pass the env without it and the trainer adds it where it needs one")
    batched = base.batch_size is not None
    if batched and base.batch_size != batch_size:
        raise ValueError(f"environment: expected an unbatched env (the trainer batches it) or one "
                         f"with batch_size == {batch_field} ({batch_size}), got {base.batch_size}")
    base = _check_wrappers(base, episode_length, action_repeat, batched)
    if not batched:
        base = VmapWrapper(base, batch_size)
        outer = None
    vmap = _find(base, VmapWrapper)
    # domain-randomised members carry one set of params each: evaluate on those members
    rebatch = vmap is not None and vmap.params is vmap.env.params
    eval_env = VmapWrapper(vmap.env, eval_batch_size) if rebatch else base
    train_env = (outer or AutoResetWrapper(base)) if auto_reset else base
    return train_env, eval_env


# -- the policy network ----------------------------------------------------------------------

SINGLE = "agent"    # the team name a single-agent env's policy is keyed by


@dataclasses.dataclass(frozen=True)
class PolicyNetwork:
    """The policy network of every trainer: one flax network per learned team
    (`(SINGLE,)` for a single-agent env), obs -> action-distribution parameters,
    shared over the team's agent axis.

    `make_policy(params, deterministic=False)` is the policy `train` returns;
    its params are `(obs_stats, network_params)`, or `{team: (obs_stats,
    network_params)}` for a multi-agent env (`join` builds them).
    """
    teams: tuple[str, ...]
    multi_agent: bool
    networks: dict            # {team: flax module}
    obs_sizes: dict           # {team: int}
    make_policy: Callable

    def init(self, key):
        """`(obs_stats, network_params)`: fresh statistics and parameters, each a
        dict keyed by team for a multi-agent env."""
        def one(team, key):
            size = self.obs_sizes[team]
            return agents.init_stats(size), self.networks[team].init(key, jnp.zeros((size,)))

        if not self.multi_agent:
            return one(SINGLE, key)
        inits = {t: one(t, k) for t, k in zip(self.teams, jax.random.split(key, len(self.teams)))}
        return {t: inits[t][0] for t in self.teams}, {t: inits[t][1] for t in self.teams}

    def join(self, obs_stats, network_params):
        """What `make_policy` takes, from `init`'s two parts."""
        if not self.multi_agent:
            return obs_stats, network_params
        return {t: (obs_stats[t], network_params[t]) for t in self.teams}

    def abstract_params(self):
        """`make_policy`'s params as `jax.ShapeDtypeStruct`s, to restore a saved policy into."""
        return self.join(*jax.eval_shape(self.init, jax.random.PRNGKey(0)))


def policy_network(env: Env, hidden: Sequence[int], normalize_observations: bool = False,
                   kind: str = "tanh_normal") -> PolicyNetwork:
    """The `PolicyNetwork` with `hidden` layers for `env` (batched or not)."""
    multi_agent = env.is_multi_agent
    teams = tuple(env.agents) if multi_agent else (SINGLE,)

    def size(attribute, team):
        value = getattr(env, attribute)
        return value[team] if multi_agent else value

    networks = {t: agents.policy_network(distributions.param_size(kind, size("action_size", t)),
                                         tuple(hidden)) for t in teams}
    factories = {t: agents.make_policy_factory(networks[t], kind, normalize_observations)
                 for t in teams}
    make_policy = agents.team_policy(factories) if multi_agent else factories[SINGLE]
    return PolicyNetwork(teams, multi_agent, networks,
                         {t: size("observation_size", t) for t in teams}, make_policy)


def config_envs(environment: str | Env, config, batch_size: int, auto_reset: bool,
                env_kwargs: dict | None = None, batch_field: str = "num_envs") -> tuple[Env, Env]:
    """`make_envs` with `episode_length`, `num_eval_envs` and `action_repeat`
    (1 if it has none) from a trainer's `config`."""
    return make_envs(environment, batch_size=batch_size, eval_batch_size=config.num_eval_envs,
                     episode_length=config.episode_length, auto_reset=auto_reset,
                     action_repeat=getattr(config, "action_repeat", 1), env_kwargs=env_kwargs,
                     batch_field=batch_field)
