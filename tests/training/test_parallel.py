"""training/parallel.py: the env batch split over 2 (host) devices gives the 1-device
result. The device count is fixed when jax starts, so the 2-device runs happen in a
subprocess started with XLA_FLAGS=--xla_force_host_platform_device_count=2."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gambol.training import ppo

SCRIPT = textwrap.dedent("""
    import json
    import jax
    import numpy as np
    from gambol.training import apg, es, parallel, ppo

    def max_diff(a, b):
        return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
                   for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))

    out = {"devices": jax.device_count()}
    ppo_small = dict(num_envs=4, episode_length=20, unroll_length=8, num_minibatches=2,
                     update_epochs=1, policy_hidden=(8,), value_hidden=(8,), num_evals=3,
                     num_eval_envs=2)
    params = [ppo.train("pendulum", 128, seed=0, num_devices=n, **ppo_small)[1] for n in (1, 2)]
    out["ppo_diff"] = max_diff(*params)
    out["ppo_params_devices"] = sorted({len(x.sharding.device_set) for x in jax.tree.leaves(params[1])})
    apg_small = dict(num_envs=4, episode_length=20, horizon_length=4, hidden=(8,), num_evals=2,
                     num_eval_envs=2)
    params = [apg.train("pendulum", 64, seed=0, num_devices=n, **apg_small)[1] for n in (1, 2)]
    out["apg_diff"] = max_diff(*params)
    es_small = dict(population_size=4, episode_length=10, hidden=(8,), num_evals=1, num_eval_envs=2)
    params = [es.train("pendulum", 80, seed=0, num_devices=n, **es_small)[1] for n in (1, 2)]
    out["es_diff"] = max_diff(*params)
    # the env state is split along its batch axis, the rest replicated
    state = parallel.place(apg.TrainingState(np.zeros(3), (), (), {"obs": np.arange(8.0)},
                                             np.zeros(2), 0), parallel.make_mesh(2, 8))
    out["env_shards"] = [s.data.shape[0] for s in state.env_state["obs"].addressable_shards]
    out["replicated_shards"] = [s.data.shape[0] for s in state.network_params.addressable_shards]
    try:
        ppo.train("pendulum", 128, num_devices=2, **{**ppo_small, "num_envs": 3, "num_minibatches": 1})
    except ValueError as error:
        out["odd_batch_error"] = str(error)
    print("RESULT", json.dumps(out))
""")


@pytest.fixture(scope="module")
def two_devices():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_two_devices_train_ppo_apg_and_es_to_the_one_device_parameters(two_devices):
    assert two_devices["devices"] == 2
    # the same global program: only the order of float additions differs
    assert two_devices["ppo_diff"] < 1e-5
    assert two_devices["apg_diff"] < 1e-5
    assert two_devices["es_diff"] < 1e-5
    assert two_devices["ppo_params_devices"] == [2]     # parameters live on both devices


def test_the_env_batch_is_split_and_the_rest_replicated(two_devices):
    assert two_devices["env_shards"] == [4, 4]
    assert two_devices["replicated_shards"] == [3, 3]


def test_a_batch_the_devices_cannot_split_is_named(two_devices):
    assert two_devices["odd_batch_error"] == "num_envs: expected a multiple of the 2 devices, got 3"


def test_more_devices_than_there_are_is_refused():
    with pytest.raises(ValueError, match=r"num_devices: expected an int in \[1, 1\]"):
        ppo.train("pendulum", 128, num_devices=2, num_envs=4, unroll_length=8, num_minibatches=2)
