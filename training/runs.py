"""A run folder written by `gambol train`, and the policy saved in it.

    from gambol.training.runs import load_policy
    make_policy, params = load_policy("runs/pendulum")
    action, _ = make_policy(params, deterministic=True)(obs, jax.random.PRNGKey(0))

A run folder holds `run.json` (env, algo, seed, settings, env settings, the
step budget), `metrics.jsonl`, `reward_curve.png`, `checkpoints/` (the whole
training state, for `--resume`), `policy/` (the final policy parameters,
orbax) and the rendered rollout.
"""

from __future__ import annotations

import dataclasses
import json
import os

from gambol.training import apg, checkpoint, es, ppo, sac, setup, shac

TRAINERS = {"ppo": (ppo, ppo.PPOConfig), "sac": (sac, sac.SACConfig), "es": (es, es.ESConfig),
            "apg": (apg, apg.APGConfig), "shac": (shac, shac.SHACConfig)}


@dataclasses.dataclass(frozen=True)
class Run:
    """What `run.json` records: enough to rebuild the run's envs and policy."""
    folder: str
    env: str
    algo: str
    seed: int
    settings: dict
    env_kwargs: dict
    timesteps: int | None = None      # the budget last asked for (None: files before it was kept)

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    @property
    def config(self):
        _, config_cls = TRAINERS[self.algo]
        return setup.configure(config_cls, None, self.settings)

    @classmethod
    def load(cls, folder: str) -> "Run":
        """The run in `folder`; FileNotFoundError if it holds no `run.json`."""
        path = os.path.join(folder, "run.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{folder}: no run.json there (train into it with gambol train)")
        with open(path) as f:
            fields = json.load(f)
        fields["settings"] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in fields["settings"].items()}
        return cls(folder=folder, **fields)

    def save(self) -> None:
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "folder"}
        with open(self.path("run.json"), "w") as f:
            json.dump(checkpoint.to_json(fields), f, indent=1)


def load_policy(run: Run | str):
    """`(make_policy, params)` of the final policy saved in a run folder (or `Run`):
    `make_policy(params, deterministic=True)(obs, key) -> (action, extras)`.
    FileNotFoundError if the folder holds no run or no saved policy yet."""
    run = Run.load(run) if isinstance(run, (str, os.PathLike)) else run
    module, _ = TRAINERS[run.algo]
    make_policy, like = module.policy_spec(run.env, run.config, run.env_kwargs)
    if checkpoint.latest_step(run.path("policy")) is None:
        raise FileNotFoundError(f"{run.folder}: no saved policy (has training finished?)")
    params, _ = checkpoint.restore(run.path("policy"), like=like)
    return make_policy, params
