"""Checkpoints of a whole training state with orbax, written atomically.

A checkpoint is a step's folder holding two items: `state`, the trainer's
whole `TrainingState` pytree (parameters, optimizer states, observation
statistics, the training env's state, PRNG keys, counters and, for SAC, the
replay buffer), and `metadata`, a JSON dict (the trainer, config and seed, which
a resuming run must share, and the budget), so a resumed run continues the same
sequence of updates and ends with the parameters an uninterrupted run would
have (see `training.loop`). Steps are numbered by iteration.

orbax's `CheckpointManager` writes each step into a temporary folder and
renames it when complete, so a save cut short leaves only a temporary folder
that `latest_step` and `restore` ignore (and the next manager removes); it
keeps the latest `keep` steps.

    checkpoint.save("runs/a/checkpoints", 3, state, {"config": {...}})
    step = checkpoint.latest_step("runs/a/checkpoints")             # 3
    state, metadata = checkpoint.restore("runs/a/checkpoints", like=state)
"""

from __future__ import annotations

import dataclasses
import json
import os

import orbax.checkpoint as ocp


class Checkpoints:
    """The checkpoints of one run in `directory`, the latest `keep` kept.
    Saves are asynchronous; `close` (or leaving a `with` block) waits for them."""

    def __init__(self, directory, keep: int = 3):
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(os.path.abspath(directory), options=options)

    def save(self, step: int, training_state, metadata: dict | None = None) -> None:
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(training_state),
            metadata=ocp.args.JsonSave(metadata or {})), force=True)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def metadata(self, step: int | None = None) -> dict:
        """The metadata of `step` (default: the latest), without the state."""
        step = self._step(step)
        return self.manager.restore(step, args=ocp.args.Composite(
            metadata=ocp.args.JsonRestore())).metadata

    def _step(self, step: int | None) -> int:
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"checkpoint: no complete checkpoint in {self.manager.directory}")
        return step

    def restore(self, like, step: int | None = None):
        """`(training_state, metadata)` of `step` (default: the latest) with the
        structure, dtypes and shardings of `like`."""
        restored = self.manager.restore(self._step(step), args=ocp.args.Composite(
            state=ocp.args.StandardRestore(like), metadata=ocp.args.JsonRestore()))
        return restored.state, restored.metadata

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def save(directory, step: int, training_state, metadata: dict | None = None, keep: int = 3) -> None:
    """Save `training_state` and `metadata` as `step` in `directory` (and wait)."""
    with Checkpoints(directory, keep) as checkpoints:
        checkpoints.save(step, training_state, metadata)


def latest_step(directory) -> int | None:
    """The latest complete step in `directory`, or None."""
    if not os.path.isdir(directory):
        return None
    with Checkpoints(directory) as checkpoints:
        return checkpoints.latest_step()


def restore(directory, like, step: int | None = None):
    """`(training_state, metadata)` of `step` (default: the latest) in `directory`,
    shaped like `like` (a training state, or its `jax.ShapeDtypeStruct`s)."""
    with Checkpoints(directory) as checkpoints:
        return checkpoints.restore(like, step)


def to_json(value):
    """`value` (dataclasses, tuples, numbers) as what JSON gives back."""
    def plain(x):
        is_instance = dataclasses.is_dataclass(x) and not isinstance(x, type)
        return dataclasses.asdict(x) if is_instance else repr(x)

    return json.loads(json.dumps(value, default=plain))


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[prefix + name] = value
    return out


def check_metadata(saved: dict, current: dict) -> None:
    """Raise a ValueError naming the first entry (`config.learning_rate`, say)
    under `current`'s keys (the trainer, config and seed) in which a checkpoint's
    metadata differs from the run resuming it. Other entries (the budget) may differ."""
    current = to_json(current)
    saved = _flat({k: v for k, v in saved.items() if k in current})
    current = _flat(current)
    for name in sorted(set(saved) | set(current)):
        if saved.get(name) != current.get(name):
            raise ValueError(f"resume: the checkpoint's {name} is {saved.get(name)!r}, but this run's "
                             f"is {current.get(name)!r}; resume with the same settings or use a "
                             f"new checkpoint_dir")
