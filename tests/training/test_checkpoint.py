"""training/checkpoint.py and resume: a resumed run ends with the parameters of an
uninterrupted one; a half-written checkpoint is ignored; a changed config is refused."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.training import apg, checkpoint, ppo, sac

PPO_SMALL = dict(num_envs=4, episode_length=20, unroll_length=8, num_minibatches=2, update_epochs=1,
                 policy_hidden=(8,), value_hidden=(8,), num_evals=4, num_eval_envs=2)
SAC_SMALL = dict(num_envs=4, episode_length=20, num_evals=4, num_eval_envs=2, batch_size=16,
                 min_replay_size=16, max_replay_size=256, policy_hidden=(8,), q_hidden=(8,))
APG_SMALL = dict(num_envs=4, episode_length=20, horizon_length=4, hidden=(8,), num_evals=3,
                 num_eval_envs=2)


class Interrupted(Exception):
    pass


def _interrupt_after(iterations):
    reports = []

    def progress(steps, metrics):
        reports.append(steps)
        if len(reports) == iterations + 1:    # the first report is the untrained policy
            raise Interrupted
    return progress


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _keep_only(directory, step):
    for name in os.listdir(directory):
        if name != str(step):
            shutil.rmtree(os.path.join(directory, name))


def _half_written(directory, step, like_step):
    """A copy of `like_step` as orbax's temporary folder of `step`, missing files."""
    partial = os.path.join(directory, f"{step}.orbax-checkpoint-tmp-1234567")
    shutil.copytree(os.path.join(directory, str(like_step)), partial)
    for root, _, files in os.walk(os.path.join(partial, "state")):
        for f in files[: len(files) // 2 + 1]:
            os.remove(os.path.join(root, f))


def test_save_restore_keeps_the_latest_and_the_metadata(tmp_path):
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "key": jax.random.PRNGKey(3),
            "count": jnp.asarray(7, jnp.int32)}
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, jax.tree.map(lambda x: x * step, tree), {"step": step}, keep=2)
    assert checkpoint.latest_step(tmp_path) == 3
    assert sorted(os.listdir(tmp_path)) == ["2", "3"]
    restored, metadata = checkpoint.restore(tmp_path, like=tree)
    assert metadata == {"step": 3}
    _assert_same(restored, jax.tree.map(lambda x: x * 3, tree))
    assert restored["count"].dtype == jnp.int32 and restored["key"].dtype == jnp.uint32
    assert checkpoint.latest_step(tmp_path / "missing") is None
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        checkpoint.restore(tmp_path / "empty", like=tree)


def test_ppo_resumes_from_a_checkpoint_to_the_uninterrupted_result(tmp_path):
    full_dir, resumed_dir = tmp_path / "full", tmp_path / "resumed"
    reports = []
    _, full, _ = ppo.train("pendulum", 192, seed=1, checkpoint_dir=str(full_dir),
                           progress_fn=lambda s, m: reports.append(s), **PPO_SMALL)
    assert reports == [0, 64, 128, 192] and checkpoint.latest_step(full_dir) == 3
    # the run as it was after iteration 1, with a save of iteration 2 cut short
    shutil.copytree(full_dir, resumed_dir)
    _keep_only(resumed_dir, 1)
    _half_written(resumed_dir, 2, like_step=1)
    assert checkpoint.latest_step(resumed_dir) == 1
    resumed_reports = []
    _, resumed, _ = ppo.train("pendulum", 192, seed=1, checkpoint_dir=str(resumed_dir), resume=True,
                              progress_fn=lambda s, m: resumed_reports.append(s), **PPO_SMALL)
    assert resumed_reports == [128, 192]
    _assert_same(resumed, full)
    assert sorted(os.listdir(resumed_dir)) == ["1", "2", "3"]    # the temporary folder is gone
    with pytest.raises(ValueError, match="checkpoint's config.learning_rate is 0.0003, but this "
                                         "run's is 0.001"):
        ppo.train("pendulum", 192, seed=1, checkpoint_dir=str(resumed_dir), resume=True,
                  learning_rate=1e-3, **PPO_SMALL)


def test_sac_interrupted_and_resumed_equals_uninterrupted_replay_buffer_included(tmp_path):
    _, full, _ = sac.train("pendulum", 64, seed=2, **SAC_SMALL)
    with pytest.raises(Interrupted):
        sac.train("pendulum", 64, seed=2, checkpoint_dir=str(tmp_path),
                  progress_fn=_interrupt_after(1), **SAC_SMALL)
    assert checkpoint.latest_step(tmp_path) == 1
    _, resumed, metrics = sac.train("pendulum", 64, seed=2, checkpoint_dir=str(tmp_path),
                                    resume=True, **SAC_SMALL)
    _assert_same(resumed, full)
    assert metrics["training/env_steps"] >= 64


def test_apg_resumes_from_a_checkpoint_to_the_uninterrupted_result(tmp_path):
    _, full, _ = apg.train("pendulum", 96, seed=3, checkpoint_dir=str(tmp_path), **APG_SMALL)
    _keep_only(tmp_path, 1)
    _, resumed, _ = apg.train("pendulum", 96, seed=3, checkpoint_dir=str(tmp_path), resume=True,
                              **APG_SMALL)
    _assert_same(resumed, full)


def test_resume_needs_a_directory():
    with pytest.raises(ValueError, match="resume: needs a checkpoint_dir"):
        ppo.train("pendulum", 192, resume=True, **PPO_SMALL)
