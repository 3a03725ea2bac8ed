"""Two processes on loopback, joined by jax's distributed runtime (gloo collectives on
CPU), train PPO in lockstep over a global mesh and end with the parameters one process
reaches with the same total batch."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np

from gambol.training import ppo

SMALL = dict(num_envs=4, episode_length=20, unroll_length=8, num_minibatches=2, update_epochs=1,
             policy_hidden=(8,), value_hidden=(8,), num_evals=3, num_eval_envs=2)

WORKER = textwrap.dedent("""
    import json, sys
    from gambol.training import parallel
    address, process_id, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    parallel.initialize(address, num_processes=2, process_id=process_id)
    import jax
    import numpy as np
    from gambol.training import ppo
    _, params, metrics = ppo.train("pendulum", 128, seed=0, **json.loads(sys.argv[4]))
    json.dump({"devices": jax.device_count(), "processes": jax.process_count(),
               "leaves": [np.asarray(x).tolist() for x in jax.tree.leaves(params)],
               "reward": metrics["eval/episode_reward"]}, open(out, "w"))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_ppo_to_the_one_process_parameters(tmp_path):
    address = f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, address, str(i),
                                 str(tmp_path / f"{i}.json"), json.dumps(SMALL)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for i in range(2)]
    try:
        logs = [w.communicate(timeout=500)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert all(w.returncode == 0 for w in workers), "\n".join(log[-2000:] for log in logs)
    results = [json.load(open(tmp_path / f"{i}.json")) for i in range(2)]
    _, params, metrics = ppo.train("pendulum", 128, seed=0, **SMALL)
    expected = [np.asarray(x) for x in jax.tree.leaves(params)]
    for result in results:
        assert result["processes"] == 2 and result["devices"] == 2    # one CPU device each
        for got, want in zip(result["leaves"], expected, strict=True):
            np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-6)
        assert abs(result["reward"] - metrics["eval/episode_reward"]) < 1e-3
