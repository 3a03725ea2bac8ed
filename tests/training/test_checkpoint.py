"""training/checkpoint.py and resume (training/loop.py): a resumed run ends with the
parameters of an uninterrupted one, whether it was interrupted (Ctrl-C saves the last
iteration) or finished with fewer steps and is continued to more; a half-written
checkpoint is ignored; a changed config is refused."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.training import apg, checkpoint, loop, ppo, sac

PPO_SMALL = dict(num_envs=4, episode_length=20, unroll_length=8, num_minibatches=2, update_epochs=1,
                 policy_hidden=(8,), value_hidden=(8,), num_evals=4, num_eval_envs=2)
# max_replay_size left to its default: room for every transition of the run's budget
SAC_SMALL = dict(num_envs=4, episode_length=20, num_evals=4, num_eval_envs=2, batch_size=16,
                 min_replay_size=16, policy_hidden=(8,), q_hidden=(8,))
APG_SMALL = dict(num_envs=4, episode_length=20, horizon_length=4, hidden=(8,), num_evals=3,
                 num_eval_envs=2)


def _ctrl_c_after(iterations):
    """A progress_fn that presses Ctrl-C (raises KeyboardInterrupt) after `iterations`."""
    reports = []

    def progress(steps, metrics):
        reports.append(steps)
        if len(reports) == iterations + 1:    # the first report is the untrained policy
            raise KeyboardInterrupt
    return progress


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _assert_close(a, b):
    """Equal up to float rounding: iterations of other lengths are other XLA programs."""
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def ppo_full(tmp_path_factory):
    """An uninterrupted PPO run of 192 steps (6 updates in 3 iterations), checkpointed."""
    directory = tmp_path_factory.mktemp("ppo_full")
    reports = []
    _, params, _ = ppo.train("pendulum", 192, seed=1, checkpoint_dir=str(directory),
                             progress_fn=lambda s, m: reports.append(s), **PPO_SMALL)
    return directory, params, reports


@pytest.fixture(scope="module")
def sac_full():
    """An uninterrupted SAC run of 64 transitions: 16 of prefill, then 12 env steps of 4
    members in 3 iterations."""
    return sac.train("pendulum", 64, seed=2, **SAC_SMALL)[1]


def test_schedule_ends_iterations_where_an_uninterrupted_run_does():
    assert loop.split_budget(192, 32, 3) == (3, 2)
    assert loop.split_budget(100, 32, 3) == (3, 2)      # 4 updates round up to 3 x 2
    assert loop.schedule(0, 6, 2) == [2, 2, 2]
    assert loop.schedule(3, 6, 2) == [1, 2]
    assert loop.schedule(4, 6, 2) == [2]
    assert loop.schedule(6, 6, 2) == [] and loop.schedule(8, 6, 2) == []


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


def test_ppo_resumes_from_a_checkpoint_to_the_uninterrupted_result(tmp_path, ppo_full):
    full_dir, full, reports = ppo_full
    resumed_dir = tmp_path / "resumed"
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


def test_ctrl_c_saves_the_last_iteration_and_sac_resumes_to_the_uninterrupted_result(
        tmp_path, sac_full):
    # checkpoint_every=3: only the interrupt saves iteration 1
    with pytest.raises(KeyboardInterrupt):
        sac.train("pendulum", 64, seed=2, checkpoint_dir=str(tmp_path), checkpoint_every=3,
                  progress_fn=_ctrl_c_after(1), **SAC_SMALL)
    assert checkpoint.latest_step(tmp_path) == 1
    _, resumed, metrics = sac.train("pendulum", 64, seed=2, checkpoint_dir=str(tmp_path),
                                    resume=True, **SAC_SMALL)
    _assert_same(resumed, sac_full)
    assert metrics["training/env_steps"] == 64


def test_a_finished_ppo_run_continued_to_more_steps_equals_an_uninterrupted_run(tmp_path, ppo_full):
    _, full, _ = ppo_full
    # 96 steps: 3 updates (3 iterations of 1); continued to 192: iterations of 1, then 2 updates
    ppo.train("pendulum", 96, seed=1, checkpoint_dir=str(tmp_path), **PPO_SMALL)
    reports = []
    _, continued, _ = ppo.train("pendulum", 192, seed=1, checkpoint_dir=str(tmp_path), resume=True,
                                progress_fn=lambda s, m: reports.append(s), **PPO_SMALL)
    assert reports == [128, 192] and checkpoint.latest_step(tmp_path) == 5
    _assert_close(continued, full)


def test_a_finished_sac_run_continued_grows_its_buffer_and_equals_an_uninterrupted_run(
        tmp_path, sac_full):
    # 40 transitions: 16 prefill + 6 env steps (buffer of 40); continued to 64 (buffer of 64)
    sac.train("pendulum", 40, seed=2, checkpoint_dir=str(tmp_path), **SAC_SMALL)
    _, continued, metrics = sac.train("pendulum", 64, seed=2, checkpoint_dir=str(tmp_path),
                                      resume=True, **SAC_SMALL)
    assert metrics["training/env_steps"] == 64
    _assert_close(continued, sac_full)


def test_a_fresh_run_into_a_folder_holding_a_run_is_refused(ppo_full):
    full_dir, _, _ = ppo_full
    with pytest.raises(ValueError, match="already holds a run \\(checkpoint 3\\); pass resume=True"):
        ppo.train("pendulum", 192, seed=1, checkpoint_dir=str(full_dir), **PPO_SMALL)


def test_apg_resumes_and_continues_to_the_uninterrupted_result(tmp_path):
    _, full, _ = apg.train("pendulum", 96, seed=3, checkpoint_dir=str(tmp_path / "full"),
                           **APG_SMALL)
    _keep_only(tmp_path / "full", 1)
    _, resumed, _ = apg.train("pendulum", 96, seed=3, checkpoint_dir=str(tmp_path / "full"),
                              resume=True, **APG_SMALL)
    _assert_same(resumed, full)
    # 48 steps: 3 windows (3 iterations of 1); continued to 96: 1 window, then 2
    apg.train("pendulum", 48, seed=3, checkpoint_dir=str(tmp_path / "short"), **APG_SMALL)
    _, continued, _ = apg.train("pendulum", 96, seed=3, checkpoint_dir=str(tmp_path / "short"),
                                resume=True, **APG_SMALL)
    _assert_close(continued, full)


def test_resume_needs_a_directory():
    with pytest.raises(ValueError, match="resume: needs a checkpoint_dir"):
        ppo.train("pendulum", 192, resume=True, **PPO_SMALL)
