"""The command line's argument checks: every user error becomes a `UsageError`
(one line naming what was wrong and what is allowed), raised before anything is
written."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import importlib.util
import math
import os
from typing import Sequence

from gambol.envs import registry


class UsageError(Exception):
    """A mistake in the command: printed as one line on stderr, exit status 2."""


def _closest(word: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- scalars --------------------------------------------------------------------------------

def timesteps(text: str) -> int:
    """`"200000"`, `"200_000"`, `"2e5"` -> 200000: a positive whole number of env steps."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1 and value == int(value)):
        raise argparse.ArgumentTypeError(f"expected a positive whole number of env steps "
                                         f"(200000, 2e5 or 200_000), got {text!r}")
    return int(value)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


# -- settings ---------------------------------------------------------------------------------

def parse_settings(items: Sequence[str], option: str = "--set") -> dict:
    """`["a=1", "b=(32, 32)", "c=name"]` -> `{"a": 1, "b": (32, 32), "c": "name"}`:
    Python literals where they parse, strings otherwise."""
    settings = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{option} {item!r}: expected KEY=VALUE, for example {option} num_envs=32")
        try:
            settings[name.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            settings[name.strip()] = text.strip()
    return settings


def _kind(default) -> str | None:
    """What a config field with this default accepts."""
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, (tuple, list)):
        return "tuple of ints"
    if isinstance(default, str):
        return "str"
    return None


def _coerce(value, kind: str | None):
    """`value` as the field's kind, or raise ValueError."""
    if kind is None or value is None:
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "tuple of ints" and isinstance(value, (tuple, list, int)) and not isinstance(value, bool):
        items = (value,) if isinstance(value, int) else tuple(value)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            return items
    if kind == "str" and isinstance(value, str):
        return value
    raise ValueError(kind)


def fields_help(config_cls) -> str:
    """`name=default` for each field of a trainer's config."""
    return " ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(config_cls))


def check_settings(config_cls, settings: dict, option: str = "--set") -> dict:
    """`settings` with each value cast to its field's type; names and types checked."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    out = {}
    for name, value in settings.items():
        if name not in fields:
            raise UsageError(f"{option} {name}: {config_cls.__name__} has no such setting"
                             f"{_closest(name, fields)}; settings: {', '.join(fields)}")
        field = fields[name]
        try:
            out[name] = _coerce(value, _kind(field.default))
        except ValueError as error:
            raise UsageError(f"{option} {name}={value!r}: expected a {error} "
                             f"({config_cls.__name__}.{name}: {field.type}), "
                             f"got {type(value).__name__}") from None
    return out


def check_env(name: str) -> None:
    names = registry.registered()
    if name not in names:
        raise UsageError(f"--env {name!r}: unknown env{_closest(name, names)}; "
                         f"registered envs: {', '.join(names)}")


# -- paths ------------------------------------------------------------------------------------

def check_new_folder(folder: str, option: str = "--out") -> None:
    """`folder` can be created (or is an empty enough folder): not a file, and
    its first existing parent is a writable folder."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{option} {folder}: is a file, not a folder; choose a folder path")
    parent = os.path.abspath(folder)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {folder}: {parent} is a file, so the folder cannot be made there")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} {folder}: {parent} is not writable")


VIDEO_SUFFIXES = (".gif", ".mp4")


def check_video_path(path: str, option: str = "--out") -> None:
    """A `.gif` or `.mp4` path in an existing, writable folder (mp4 needs imageio-ffmpeg)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in VIDEO_SUFFIXES:
        raise UsageError(f"{option} {path}: expected a file ending in {' or '.join(VIDEO_SUFFIXES)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: folder {os.path.dirname(path) or '.'} does not exist; "
                         f"create it first")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: folder {os.path.dirname(path) or '.'} is not writable")
    if suffix == ".mp4":
        need_module("imageio_ffmpeg", f"{option} {path}", "video")


def need_module(module: str, what: str, extra: str) -> None:
    """A UsageError naming the pip extra when an optional `module` is missing."""
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{what}: needs {module.replace('_', '-')}; "
                         f"pip install 'gambol[{extra}]'")
