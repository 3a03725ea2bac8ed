"""The main job's scripts run end to end at small sizes and write their pictures."""

import pathlib
import runpy
import sys

import imageio.v3 as iio
import pytest

ROOT = pathlib.Path(__file__).parents[2]


def _run(script, args, monkeypatch):
    monkeypatch.setattr(sys, "argv", [script] + args)
    runpy.run_path(str(ROOT / "scripts" / script), run_name="__main__")


def test_flock_demo_writes_a_gif_a_still_and_curves(tmp_path, monkeypatch, capsys):
    _run("flock_demo.py", ["--out", str(tmp_path), "--boids", "60", "--predators", "1", "--obstacles", "1",
                           "--steps", "60", "--frame-every", "20"], monkeypatch)
    frames = iio.imread(tmp_path / "flock.gif", index=None)
    assert frames.shape[0] == 4                        # the start and one frame per 20 steps
    assert iio.imread(tmp_path / "flock.png").ndim == 3
    assert (tmp_path / "flock_metrics.png").stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("n, steps", [(200, 400)])
def test_particle_demo_writes_its_picture(tmp_path, monkeypatch, n, steps):
    _run("demo.py", ["--out", str(tmp_path), "--n", str(n), "--steps", str(steps)], monkeypatch)
    assert (tmp_path / "particles.png").stat().st_size > 1000


def test_main_job_trains_and_writes_curve_gif_and_3d_player(tmp_path, monkeypatch, capsys):
    _run("train_demo.py", ["--out", str(tmp_path), "--timesteps", "64",
                           "--set", "num_envs=2", "--set", "unroll_length=8", "--set", "num_minibatches=2",
                           "--set", "update_epochs=1", "--set", "episode_length=12", "--set", "num_evals=2",
                           "--set", "num_eval_envs=2", "--set", "policy_hidden=(8,)",
                           "--set", "value_hidden=(8,)"], monkeypatch)
    run = tmp_path / "halfcheetah"
    assert iio.imread(run / "reward_curve.png").ndim == 3
    frames = iio.imread(run / "rollout.gif", index=None)
    assert frames.shape[0] == 13                       # the reset state and 12 steps
    page = (run / "rollout.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "gambol: ppo on halfcheetah" in page
    assert "http://" not in page and "https://" not in page      # plays offline
    out = capsys.readouterr().out
    assert f"wrote {run / 'rollout.html'}" in out and "eval reward" in out
