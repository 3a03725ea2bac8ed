"""`gambol train --logger wandb` with the real wandb, offline (`make test-sb3` installs the
optional extras; skipped without wandb). TensorBoard is tested in test_cli.py."""

import glob
import json
import os
import struct

import pytest

wandb = pytest.importorskip("wandb")

from wandb.proto import wandb_internal_pb2  # noqa: E402

from gambol.training import cli  # noqa: E402

TINY = ["--set", "num_envs=4", "--set", "episode_length=20", "--set", "unroll_length=8",
        "--set", "num_minibatches=2", "--set", "policy_hidden=(8,)", "--set", "value_hidden=(8,)",
        "--set", "num_evals=2", "--set", "num_eval_envs=2"]


def _records(path):
    """The protobuf records of a `.wandb` file (a ":W&B" header, then LevelDB's log format:
    32 KiB blocks of records with a 7-byte header: crc, length, full/first/middle/last)."""
    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, chunk = 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:                     # a block's tail too short for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = chunk + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            yield wandb_internal_pb2.Record.FromString(chunk)
            chunk = b""


def test_wandb_logger_records_every_report_in_an_offline_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    folder = str(tmp_path / "w")
    metrics = cli.main(["train", "--env", "pendulum", "--algo", "ppo", "--timesteps", "128", "--out",
                        folder, "--no-render", "--logger", "wandb", *TINY])
    (path,) = glob.glob(os.path.join(folder, "wandb", "offline-run-*", "run-*.wandb"))
    history, config = [], {}
    for record in _records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                            for i in record.history.item})
        elif kind == "run":
            config = {i.key or "/".join(i.nested_key): i.value_json for i in record.run.config.update}
    assert [h["_step"] for h in history] == [0, 128]
    assert history[-1]["eval/episode_reward"] == pytest.approx(metrics["eval/episode_reward"])
    assert "training/policy_loss" in history[-1]
    assert "pendulum" in config["env"] and "num_minibatches" in config
