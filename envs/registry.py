"""Name -> env factory, and `create`, which stacks the standard wrappers."""

from __future__ import annotations

import inspect
from typing import Callable

from gambol.envs.base import Env
from gambol.envs.wrappers import (ActionRepeatWrapper, AutoResetWrapper, EpisodeWrapper,
                                  VmapWrapper, domain_randomize)

_REGISTRY: dict[str, Callable[..., Env]] = {}
_VERSIONS: dict[str, str] = {}


def register(name: str, factory: Callable[..., Env], *, override: bool = False,
             version: str | None = None, gymnasium: bool = True) -> None:
    """Make `create(name, **kwargs)` call `factory(**kwargs)`, and (with `gymnasium`)
    `gymnasium.make("gambol/<name>-v<version>")` build it (see `register_gymnasium`).

    `version`: the env's version (default: the factory's `version` attribute, else "0").
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register: name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise TypeError(f"register({name!r}): factory must be callable, got {type(factory).__name__}")
    if name in _REGISTRY and not override and _REGISTRY[name] is not factory:
        raise ValueError(f"register: {name!r} is already registered; pass override=True to replace it")
    _REGISTRY[name] = factory
    _VERSIONS[name] = str(version if version is not None else getattr(factory, "version", "0"))
    if gymnasium:
        from gambol.envs.gymnasium_adapter import register_gymnasium
        register_gymnasium(name)


def registered() -> list[str]:
    """The names `create` accepts."""
    return sorted(_REGISTRY)


DEFAULT_EPISODE_LENGTH = 1000


def default_episode_length(name: str) -> int:
    """Agent steps per episode when `create` is not told: the factory's
    `default_episode_length` (pendulum: 200, as gymnasium's Pendulum-v1), else 1000."""
    return int(getattr(_factory(name), "default_episode_length", DEFAULT_EPISODE_LENGTH))


def version(name: str) -> str:
    """The version the env `name` was registered with ("1", "ant-v2", ...)."""
    _factory(name)
    return _VERSIONS[name]


def _factory(name: str) -> Callable[..., Env]:
    if name not in _REGISTRY:
        import difflib
        close = difflib.get_close_matches(str(name), _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"unknown env {name!r}{hint}; registered envs: {registered()}")
    return _REGISTRY[name]


def _check_kwargs(name: str, factory: Callable, kwargs: dict) -> None:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items()
                if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"create({name!r}): unknown keyword(s) {unknown}; {name!r} accepts "
                        f"{accepted} plus episode_length, action_repeat, batch_size, auto_reset, "
                        f"cached_reset, randomize_fn, randomize_seed")


def make(name: str, **kwargs) -> Env:
    """The bare env registered as `name`, without wrappers."""
    factory = _factory(name)
    _check_kwargs(name, factory, kwargs)
    return factory(**kwargs)


def create(name: str, episode_length: int | None | str = "default", action_repeat: int = 1,
           batch_size: int | None = None, auto_reset: bool = True, cached_reset: bool = False,
           randomize_fn: Callable | None = None, randomize_seed: int = 0, **kwargs) -> Env:
    """The env `name` with the standard wrappers.

    Args:
      episode_length: agent steps per episode (None: episodes end only by termination;
        "default": `default_episode_length(name)`, 1000 for most envs, 200 for pendulum).
      action_repeat: physics steps per agent step.
      batch_size: number of independent members stepped together (None: one).
      auto_reset: start a fresh episode in the step that one ends.
      cached_reset: auto-reset to the member's first state instead of a fresh one.
      randomize_fn: `(rng, params) -> params`, giving each batch member its own
        physical constants (needs `batch_size`).
      **kwargs: passed to the env's factory.
    """
    if isinstance(episode_length, str) and episode_length == "default":
        episode_length = default_episode_length(name)
    env = make(name, **kwargs)
    if action_repeat != 1:
        env = ActionRepeatWrapper(env, action_repeat)
    if episode_length is not None:
        env = EpisodeWrapper(env, episode_length)
    if randomize_fn is not None:
        if batch_size is None:
            raise ValueError("randomize_fn: needs batch_size (one set of params per member)")
        import jax
        env = domain_randomize(env, randomize_fn, batch_size, jax.random.PRNGKey(randomize_seed))
    elif batch_size is not None:
        env = VmapWrapper(env, batch_size)
    if auto_reset:
        env = AutoResetWrapper(env, cached=cached_reset)
    return env
