"""training/cli.py: `gambol train | eval | render` end to end on pendulum with a tiny budget."""

import json
import os

import imageio.v2 as imageio
import jax
import numpy as np
import pytest

from gambol.training import checkpoint, cli

TINY = ["--set", "num_envs=4", "--set", "episode_length=20", "--set", "unroll_length=8",
        "--set", "num_minibatches=2", "--set", "policy_hidden=(8,)", "--set", "value_hidden=(8,)",
        "--set", "num_evals=3", "--set", "num_eval_envs=2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("runs") / "swing")
    metrics = cli.main(["train", "--env", "pendulum", "--algo", "ppo", "--timesteps", "256",
                        "--out", folder, "--seed", "1", *TINY])
    return folder, metrics


def test_train_writes_metrics_curve_policy_and_rollout(run):
    folder, metrics = run
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert [r["step"] for r in rows] == [0, 128, 256]
    assert rows[-1]["eval/episode_reward"] == metrics["eval/episode_reward"]
    assert all(np.isfinite(r["eval/episode_reward"]) for r in rows)
    assert "training/policy_loss" in rows[-1] and "training/policy_loss" not in rows[0]
    curve = imageio.imread(os.path.join(folder, "reward_curve.png"))
    assert curve.ndim == 3 and curve.shape[0] > 100
    gif = imageio.mimread(os.path.join(folder, "rollout.gif"))
    assert len(gif) == 21                         # the reset state and 20 steps
    assert checkpoint.latest_step(os.path.join(folder, "checkpoints")) == 2
    saved = json.load(open(os.path.join(folder, "run.json")))
    assert saved["settings"]["policy_hidden"] == [8] and saved["seed"] == 1


def test_eval_restores_the_trained_policy_and_prints_its_return(run, capsys):
    folder, _ = run
    make_policy, params = cli.load_policy(cli.Run.load(folder))
    assert params[1]["params"]["dense_0"]["kernel"].shape == (3, 8)
    action, _ = make_policy(params, deterministic=True)(np.zeros((2, 3), np.float32),
                                                        jax.random.PRNGKey(0))
    assert action.shape == (2, 1)
    reward = cli.main(["eval", "--run", folder, "--episodes", "3"])
    # pendulum's reward per step lies in [-(pi^2 + 0.1 * 8^2 + 0.001 * 2^2), 0]
    assert -20 * 16.28 <= reward <= 0
    assert f"mean return over 3 episodes: {reward:.3f}" in capsys.readouterr().out


def test_render_writes_a_gif_of_an_episode(run, tmp_path):
    folder, _ = run
    path = cli.main(["render", "--run", folder, "--out", str(tmp_path / "again.gif")])
    frames = imageio.mimread(path)
    assert len(frames) == 21 and frames[0].shape[-1] in (3, 4)


def test_the_console_script_exits_with_status_zero(run, monkeypatch, capsys):
    folder, _ = run       # `sys.exit(main())` would exit 1 on the dict of metrics train returns
    monkeypatch.setattr("sys.argv", ["gambol", "eval", "--run", folder, "--episodes", "2"])
    assert cli.console() == 0
    assert "mean return over 2 episodes" in capsys.readouterr().out


def test_a_used_folder_needs_resume_with_the_same_arguments(run):
    folder, _ = run
    base = ["train", "--env", "pendulum", "--algo", "ppo", "--timesteps", "256", "--out", folder]
    with pytest.raises(SystemExit, match="already holds a run; pass --resume"):
        cli.main([*base, "--seed", "1", *TINY])
    with pytest.raises(SystemExit, match="--resume: .* was trained with"):
        cli.main([*base, "--seed", "2", "--resume", *TINY])
    with pytest.raises(SystemExit, match="no run.json there"):
        cli.main(["eval", "--run", os.path.dirname(folder)])


def test_settings_parse_as_python_literals():
    assert cli.parse_settings(["a=1", "b=(32, 32)", "c=name", "d=1e-3"]) == \
        {"a": 1, "b": (32, 32), "c": "name", "d": 1e-3}
    with pytest.raises(SystemExit, match="expected key=value"):
        cli.parse_settings(["novalue"])
