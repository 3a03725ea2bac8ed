"""training/cli.py: `gambol train | eval | render` end to end on pendulum with a tiny budget;
every user error one line on stderr with exit status 2 and nothing written; resume and Ctrl-C."""

import json
import os
import struct
import subprocess
import sys

import imageio.v2 as imageio
import jax
import numpy as np
import pytest

from gambol.training import checkpoint, cli, cli_args, defaults
from gambol.training.cli_output import Progress

TINY = ["--set", "num_envs=4", "--set", "episode_length=20", "--set", "unroll_length=8",
        "--set", "num_minibatches=2", "--set", "policy_hidden=(8,)", "--set", "value_hidden=(8,)",
        "--set", "num_evals=3", "--set", "num_eval_envs=2"]


def _train(folder, *extra, timesteps="256"):
    return cli.main(["train", "--env", "pendulum", "--algo", "ppo", "--timesteps", timesteps,
                     "--out", folder, "--seed", "1", "--no-render", *TINY, *extra])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("runs") / "swing")
    metrics = cli.main(["train", "--env", "pendulum", "--algo", "ppo", "--timesteps", "256",
                        "--out", folder, "--seed", "1", "--logger", "tensorboard", *TINY])
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
    assert saved["timesteps"] == 256


def _tensorboard_scalars(folder):
    """{tag: [(step, value)]} read from tensorboardX's event files (TFRecord framing)."""
    from tensorboardX.proto import event_pb2
    scalars = {}
    for name in sorted(os.listdir(folder)):
        data = open(os.path.join(folder, name), "rb").read()
        while data:
            (length,) = struct.unpack("<Q", data[:8])
            event = event_pb2.Event.FromString(data[12:12 + length])
            data = data[12 + length + 4:]
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_logger_gets_every_report(run):
    folder, metrics = run
    scalars = _tensorboard_scalars(os.path.join(folder, "tensorboard"))
    assert [s for s, _ in scalars["eval/episode_reward"]] == [0, 128, 256]
    assert scalars["eval/episode_reward"][-1][1] == pytest.approx(metrics["eval/episode_reward"])


def test_eval_restores_the_trained_policy_and_prints_its_return(run, capsys):
    folder, _ = run
    make_policy, params = cli.load_policy(folder)
    assert params[1]["params"]["dense_0"]["kernel"].shape == (3, 8)
    action, _ = make_policy(params, deterministic=True)(np.zeros((2, 3), np.float32),
                                                        jax.random.PRNGKey(0))
    assert action.shape == (2, 1)
    reward = cli.main(["eval", "--run", folder, "--episodes", "3"])
    # pendulum's reward per step lies in [-(pi^2 + 0.1 * 8^2 + 0.001 * 2^2), 0]
    assert -20 * 16.28 <= reward <= 0
    assert f"mean return over 3 episodes: {reward:.3f}" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["again.gif", "again.mp4"])
def test_render_writes_a_gif_or_an_mp4_of_an_episode(run, tmp_path, name):
    folder, _ = run
    path = cli.main(["render", "--run", folder, "--out", str(tmp_path / name)])
    if name.endswith(".gif"):
        frames = imageio.mimread(path)
        assert len(frames) == 21 and frames[0].shape[-1] in (3, 4)
    else:
        import imageio_ffmpeg
        frames, seconds = imageio_ffmpeg.count_frames_and_secs(path)
        assert frames == 21 and seconds == pytest.approx(21 * 0.05, abs=0.06)


def test_the_console_script_exits_with_status_zero(run, monkeypatch, capsys):
    folder, _ = run       # `sys.exit(main())` would exit 1 on the dict of metrics train returns
    monkeypatch.setattr("sys.argv", ["gambol", "eval", "--run", folder, "--episodes", "2"])
    assert cli.console() == 0
    assert "mean return over 2 episodes" in capsys.readouterr().out


# -- user errors: one line, status 2, nothing written -----------------------------------------

PENDULUM = ["train", "--env", "pendulum", "--algo", "ppo", "--timesteps", "256"]
ERRORS = [
    (["train", "--env", "pendulm", "--algo", "ppo"], r"--env 'pendulm': unknown env \(did you mean "
                                                     r"'pendulum'\?\); registered envs: .*point_reacher"),
    (["train", "--env", "pendulum", "--algo", "ppp"], r"argument --algo: invalid choice: 'ppp' \(choose from"),
    (["train", "--env", "pendulum"], r"train: --algo required \(or --resume"),
    ([*PENDULUM[:-1], "-5"], r"argument --timesteps: expected a positive whole number of env steps "
                             r"\(200000, 2e5 or 200_000\), got '-5'"),
    ([*PENDULUM[:-1], "1.5"], r"got '1.5'"),
    ([*PENDULUM, "--set", "num_env=4"], r"--set num_env: PPOConfig has no such setting \(did you "
                                        r"mean 'num_envs'\?\); settings: num_envs, episode_length"),
    ([*PENDULUM, "--set", "learning_rate=fast"], r"--set learning_rate='fast': expected a float "
                                                 r"\(PPOConfig.learning_rate: float\), got str"),
    ([*PENDULUM, "--set", "num_minibatches=7"], r"--set: PPOConfig.num_minibatches: must divide"),
    ([*PENDULUM, "--set", "novalue"], r"--set 'novalue': expected KEY=VALUE"),
    ([*PENDULUM, "--env-set", "max_sped=3"], r"--env-set: .*unknown keyword\(s\) \['max_sped'\]"),
    (["train", "--env", "tag", "--algo", "sac", "--timesteps", "100"],
     r"--algo sac on --env tag: .*multi-agent envs .* are not supported"),
    ([*PENDULUM, "--checkpoint-every", "0"], r"argument --checkpoint-every: expected a positive int"),
    (["train", "--env", "pendulum", "--algo", "es"],
     r"--timesteps: required for --env pendulum --algo es \(the defaults table has no budget"),
    (["train", "--resume"], r"--resume: .*new does not exist, so there is no run to continue"),
]


def _error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("argv, message", ERRORS, ids=[" ".join(a[1:])[:40] for a, _ in ERRORS])
def test_a_bad_train_argument_is_one_line_status_2_and_writes_nothing(argv, message, tmp_path, capsys):
    folder = tmp_path / "runs" / "new"
    line = _error([*argv, "--out", str(folder)], capsys)
    assert line.startswith("gambol: ")
    assert __import__("re").search(message, line), line
    assert not (tmp_path / "runs").exists()


def test_the_corrected_command_is_accepted_in_the_same_folder(tmp_path, capsys):
    folder = str(tmp_path / "fix")
    _error(["train", "--env", "pendulm", "--algo", "ppo", "--timesteps", "64", "--out", folder], capsys)
    args = cli._parser().parse_args(["train", "--env", "pendulum", "--algo", "ppo", "--timesteps", "64",
                                     "--out", folder])
    assert cli.checked_run(args).env == "pendulum"       # no "already holds a run"


def test_used_folders_files_and_missing_paths_are_one_line_errors(run, tmp_path, capsys):
    folder, _ = run
    line = _error([*PENDULUM, "--out", folder], capsys)
    assert "already holds a run (pendulum, ppo); pass --resume to continue it" in line
    line = _error(["train", "--out", folder, "--resume", "--seed", "2"], capsys)
    assert "was trained with --seed 1, not 2" in line
    line = _error(["train", "--out", folder, "--resume", "--set", "num_envs=8"], capsys)
    assert "was trained with --set num_envs=4, not 8; a run keeps its settings" in line
    (tmp_path / "file").write_text("")
    assert "is a file, not a folder" in _error([*PENDULUM, "--out", str(tmp_path / "file")], capsys)
    assert "holds no run.json" in _error(["train", "--out", str(tmp_path), "--resume"], capsys)
    assert "no run.json there" in _error(["eval", "--run", str(tmp_path)], capsys)
    line = _error(["render", "--run", folder, "--out", str(tmp_path / "missing_dir" / "x.gif")], capsys)
    assert "folder " in line and "missing_dir does not exist" in line
    line = _error(["render", "--run", folder, "--out", str(tmp_path / "x.avi")], capsys)
    assert "expected a file ending in .gif or .mp4" in line
    assert "argument --episodes: expected a positive int" in _error(
        ["eval", "--run", folder, "--episodes", "0"], capsys)


def test_a_missing_optional_logger_names_its_extra(monkeypatch, tmp_path, capsys):
    real = cli_args.importlib.util.find_spec
    monkeypatch.setattr(cli_args.importlib.util, "find_spec",
                        lambda name: None if name == "wandb" else real(name))
    line = _error([*PENDULUM, "--out", str(tmp_path / "w"), "--logger", "wandb"], capsys)
    assert line == "gambol: --logger wandb: needs wandb; pip install 'gambol[wandb]'"
    assert not (tmp_path / "w").exists()


def test_debug_shows_the_traceback_instead():
    with pytest.raises(cli.UsageError, match="unknown env"):
        cli.main(["train", "--env", "pendulm", "--algo", "ppo", "--out", "x", "--debug"])


# -- arguments, defaults, help ------------------------------------------------------------------

def test_timesteps_accept_scientific_notation_and_underscores():
    assert cli_args.timesteps("1e5") == cli_args.timesteps("100_000") == cli_args.timesteps("100000") == 100_000
    assert cli_args.timesteps("2.5e5") == 250_000


def test_settings_parse_as_python_literals():
    assert cli.parse_settings(["a=1", "b=(32, 32)", "c=name", "d=1e-3"]) == \
        {"a": 1, "b": (32, 32), "c": "name", "d": 1e-3}


def test_the_defaults_table_fills_what_set_does_not_and_sets_the_budget(tmp_path):
    args = cli._parser().parse_args(["train", "--env", "pendulum", "--algo", "ppo", "--out",
                                     str(tmp_path / "d"), "--set", "learning_rate=3e-4"])
    run = cli.checked_run(args)
    assert run.settings == {**defaults.settings("pendulum", "ppo"), "learning_rate": 3e-4}
    assert run.timesteps == defaults.budget("pendulum", "ppo") and not (tmp_path / "d").exists()


def test_train_help_lists_envs_and_each_algorithms_settings(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "envs: ant, boids," in out and "mjcf_hopper" in out and "point_reacher" in out
    for text in ("ppo: num_envs=64", "num_minibatches=4", "sac: num_envs=32", "es: population_size=64",
                 "pendulum ppo: num_envs=32"):
        assert text in out


def test_python_dash_m_gambol_prints_the_version():
    import gambol
    out = subprocess.run([sys.executable, "-m", "gambol", "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == f"gambol {gambol.__version__}"


def test_the_progress_bar_ends_at_the_true_step_count(tmp_path):
    class Stream(list):
        def write(self, text):
            self.append(text)

        def flush(self):
            pass
    stream = Stream()
    bar = Progress(200, stream)
    for steps in (0, 128, 256):               # the budget rounded up to whole iterations
        bar(steps, {"eval/episode_reward": -1.0})
    assert "256/256 steps" in stream[-1] and "[" + "#" * 30 + "]" in stream[-1]


# -- resume and Ctrl-C --------------------------------------------------------------------------

def _params(folder):
    return jax.tree.leaves(cli.load_policy(folder)[1])


@pytest.fixture(scope="module")
def straight_512(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("runs") / "straight")
    _train(folder, timesteps="512")
    return _params(folder)


def test_resume_continues_a_finished_run_to_the_new_budget(run, straight_512, tmp_path):
    folder, _ = run
    import shutil
    copy = str(tmp_path / "more")
    shutil.copytree(folder, copy)
    cli.main(["train", "--out", copy, "--resume", "--timesteps", "512", "--no-render"])
    rows = [json.loads(line) for line in open(os.path.join(copy, "metrics.jsonl"))]
    assert rows[-1]["step"] == 512 and json.load(open(os.path.join(copy, "run.json")))["timesteps"] == 512
    # the same updates as one uninterrupted 512-step run
    for a, b in zip(_params(copy), straight_512):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_ctrl_c_saves_a_checkpoint_says_how_to_resume_and_resume_finishes(straight_512, tmp_path,
                                                                         monkeypatch, capsys):
    folder = str(tmp_path / "stopped")
    show = Progress.__call__

    def interrupt(self, steps, metrics):
        show(self, steps, metrics)
        if steps >= 256:
            raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(Progress, "__call__", interrupt)
        with pytest.raises(SystemExit) as exit_info:
            _train(folder, timesteps="512")
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 130
    saved = checkpoint.latest_step(os.path.join(folder, "checkpoints"))
    assert lines[-1] == (f"gambol: interrupted; checkpoint {saved} (step 256) is in {folder}/checkpoints; "
                         f"continue with: gambol train --out {folder} --resume")
    cli.main(["train", "--out", folder, "--resume", "--no-render"])     # the budget run.json kept
    for a, b in zip(_params(folder), straight_512):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
