"""The `gambol` command line: train, evaluate and render a policy.

    gambol train --env pendulum --algo ppo --timesteps 200000 --out runs/swing \\
                 [--resume] [--seed 0] [--set num_envs=64 --set learning_rate=1e-3]
    gambol eval --run runs/swing          # prints the saved policy's mean return
    gambol render --run runs/swing        # runs/swing/rollout.gif

A run folder holds `run.json` (env, algo, seed, settings), `metrics.jsonl` (one
JSON object per report: `step`, `seconds` and the trainer's metrics),
`reward_curve.png`, `checkpoints/` (the whole training state, for `--resume`),
`policy/` (the final policy parameters, orbax) and `rollout.gif` (one
evaluation episode, for envs that render; rigid-body envs also get `rollout.html`,
a 3D player that works offline).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import sys
import time
from typing import Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

from gambol.training import apg, checkpoint, es, parallel, ppo, sac, setup, shac
from gambol.training.acting import make_evaluator

TRAINERS = {"ppo": (ppo, ppo.PPOConfig), "sac": (sac, sac.SACConfig), "es": (es, es.ESConfig),
            "apg": (apg, apg.APGConfig), "shac": (shac, shac.SHACConfig)}


# -- arguments ------------------------------------------------------------------------------

def parse_settings(items: Sequence[str], option: str = "--set") -> dict:
    """`["a=1", "b=(32, 32)", "c=name"]` -> `{"a": 1, "b": (32, 32), "c": "name"}`:
    Python literals where they parse, strings otherwise."""
    settings = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"{option} {item!r}: expected key=value")
        try:
            settings[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            settings[name] = text
    return settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gambol", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a policy into a run folder")
    train.add_argument("--env", required=True, help="a registered env name (pendulum, flock, ...)")
    train.add_argument("--algo", required=True, choices=sorted(TRAINERS))
    train.add_argument("--timesteps", required=True, type=int, help="env steps to train for")
    train.add_argument("--out", required=True, help="the run folder, runs/NAME")
    train.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a field of the algorithm's config (repeatable)")
    train.add_argument("--env-set", action="append", default=[], metavar="KEY=VALUE",
                       help="a keyword of the env's factory (repeatable)")
    train.add_argument("--checkpoint-every", type=int, default=1, help="iterations between checkpoints")
    train.add_argument("--no-render", action="store_true", help="skip the rollout GIF")
    cluster = train.add_argument_group("multi-process (one command per process, same arguments)")
    cluster.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                         help="process 0's address; starts jax.distributed")
    cluster.add_argument("--num-processes", type=int, default=1)
    cluster.add_argument("--process-id", type=int, default=0)
    for name, text in (("eval", "evaluate a run's saved policy"), ("render", "render a run's policy")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--run", required=True, help="the run folder")
        command.add_argument("--seed", type=int, default=0)
        if name == "eval":
            command.add_argument("--episodes", type=int, default=None,
                                 help="episodes to average (default: the config's num_eval_envs)")
        else:
            command.add_argument("--out", default=None, help="the GIF (default: RUN/rollout.gif)")
    return parser


# -- a run folder ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Run:
    folder: str
    env: str
    algo: str
    seed: int
    settings: dict
    env_kwargs: dict

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    @property
    def config(self):
        module, config_cls = TRAINERS[self.algo]
        return setup.configure(config_cls, None, self.settings)

    @classmethod
    def load(cls, folder: str) -> "Run":
        path = os.path.join(folder, "run.json")
        if not os.path.isfile(path):
            raise SystemExit(f"--run {folder}: no run.json there (train into it with gambol train)")
        with open(path) as f:
            return cls(folder=folder, **json.load(f))

    def save(self) -> None:
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "folder"}
        with open(self.path("run.json"), "w") as f:
            json.dump(checkpoint.to_json(fields), f, indent=1)


def load_policy(run: Run):
    """`(make_policy, params)` of the run's saved final policy."""
    module, _ = TRAINERS[run.algo]
    make_policy, like = module.policy_spec(run.env, run.config, run.env_kwargs)
    if checkpoint.latest_step(run.path("policy")) is None:
        raise SystemExit(f"--run {run.folder}: no saved policy (has training finished?)")
    params, _ = checkpoint.restore(run.path("policy"), like=like)
    return make_policy, params


def _eval_env(run: Run, batch_size: int):
    config = dataclasses.replace(run.config, num_eval_envs=batch_size)
    return setup.config_envs(run.env, config, 1, False, run.env_kwargs)[1]


# -- progress and outputs ---------------------------------------------------------------------

class Progress:
    """A text progress bar (steps, steps/s, reward, ETA) on stderr, and every
    report appended to `metrics.jsonl`."""

    def __init__(self, total_steps: int, metrics_path: str, stream=sys.stderr):
        self.total, self.metrics_path, self.stream = total_steps, metrics_path, stream
        self.start = time.perf_counter()
        self.first_steps = None

    def __call__(self, steps: int, metrics: dict) -> None:
        seconds = time.perf_counter() - self.start
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"step": steps, "seconds": seconds, **metrics}) + "\n")
        if self.first_steps is None:
            self.first_steps, self.start = steps, time.perf_counter()
            rate = 0.0
        else:
            rate = (steps - self.first_steps) / max(seconds, 1e-9)
        eta = max(self.total - steps, 0) / rate if rate > 0 else float("nan")
        width, done = 30, min(steps / self.total, 1.0)
        bar = "#" * int(width * done) + "-" * (width - int(width * done))
        eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if np.isfinite(eta) else "--:--:--"
        self.stream.write(f"\r[{bar}] {steps:,}/{self.total:,} steps  {rate:,.0f} steps/s  "
                          f"reward {_reward(metrics):.2f}  ETA {eta_text}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def _reward(metrics: dict) -> float:
    """`eval/episode_reward`, or the sum over teams of a multi-agent env's."""
    values = [v for k, v in metrics.items() if k.startswith("eval/episode_reward")]
    return float(sum(values)) if values else float("nan")


def plot_rewards(metrics_path: str, png_path: str) -> None:
    """The evaluation reward against env steps, from `metrics.jsonl`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    keys = sorted({k for r in rows for k in r if k.startswith("eval/episode_reward")})
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        points = sorted((r["step"], r[key]) for r in rows if key in r)
        ax.plot(*zip(*points), marker="o", label=key.removeprefix("eval/"))
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode reward")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)
    plt.close(fig)


MAX_GIF_FRAMES = 150


def render_rollout(run: Run, make_policy, params, gif_path: str, seed: int = 0) -> list[str]:
    """One deterministic episode rendered to `gif_path` (at most `MAX_GIF_FRAMES` + 1
    frames, evenly strided) and, for rigid-body envs, to a self-contained 3D player next
    to it (`.html`, every step); returns the paths written (none, with a message, if the
    env cannot render)."""
    import imageio.v2 as imageio

    env = _eval_env(run, 1)
    policy = make_policy(params, deterministic=True)

    @jax.jit
    def rollout(key):
        def body(state, key):
            state = env.step(state, policy(state.obs, key)[0])
            return state, state
        first = env.reset(key)
        _, states = jax.lax.scan(body, first, jax.random.split(key, run.config.episode_length))
        return first, states

    first, states = jax.device_get(rollout(jax.random.PRNGKey(seed)))
    try:
        frames = [env.render(first)]
    except NotImplementedError as error:
        print(f"render: skipped, {error}")
        return []
    done = np.asarray(states.done).reshape(run.config.episode_length, -1).all(axis=1)
    length = int(np.argmax(done)) + 1 if done.any() else run.config.episode_length
    stride = -(-length // MAX_GIF_FRAMES)          # long episodes: every stride-th step
    for t in range(stride - 1, length, stride):
        frames.append(env.render(jax.tree.map(lambda x: x[t], states)))
    imageio.mimsave(gif_path, frames, duration=0.05 * stride, loop=0)
    written = [gif_path]
    system = getattr(env.unwrapped, "sys", None)
    if system is not None:                     # a rigid-body env: its qp per agent step
        from gambol.envs.rigid_render import trajectory_html
        qps = jax.tree.map(lambda f, x: np.concatenate([f[None, 0], x[:length, 0]]),
                           first.pipeline_state, states.pipeline_state)
        html_path = os.path.splitext(gif_path)[0] + ".html"
        repeat = getattr(run.config, "action_repeat", 1)
        trajectory_html(system, qps, html_path, fps=1.0 / (float(system.dt) * repeat),
                        title=f"gambol: {run.algo} on {run.env}")
        written.append(html_path)
    return written


# -- commands -------------------------------------------------------------------------------

def train(args) -> dict:
    if args.coordinator is not None:
        parallel.initialize(args.coordinator, args.num_processes, args.process_id)
    lead = jax.process_index() == 0        # writes the run's files; every process checkpoints
    run = Run(args.out, args.env, args.algo, args.seed, parse_settings(args.set),
              parse_settings(args.env_set, "--env-set"))
    os.makedirs(run.folder, exist_ok=True)
    if os.path.isfile(run.path("run.json")) and not args.resume:
        raise SystemExit(f"--out {run.folder}: already holds a run; pass --resume to continue it "
                         f"or choose another folder")
    if args.resume and os.path.isfile(run.path("run.json")):
        saved = Run.load(run.folder)
        if checkpoint.to_json(saved) != checkpoint.to_json(run):
            raise SystemExit(f"--resume: {run.folder} was trained with {saved}, not these arguments")
    if jax.process_count() > 1:       # every process has read the folder before it changes
        multihost_utils.sync_global_devices("gambol train: folder checked")
    module, _ = TRAINERS[run.algo]
    progress = Progress(args.timesteps, run.path("metrics.jsonl")) if lead else None
    if lead:
        run.save()
    try:
        make_policy, params, metrics = module.train(
            run.env, args.timesteps, env_kwargs=run.env_kwargs, seed=run.seed, progress_fn=progress,
            checkpoint_dir=run.path("checkpoints"), checkpoint_every=args.checkpoint_every,
            resume=args.resume, **run.settings)
    finally:
        if lead:
            progress.close()
    # a resumed run replaces the policy saved before: a new step, the last one kept
    previous = checkpoint.latest_step(run.path("policy")) or 0
    checkpoint.save(run.path("policy"), previous + 1, params, {"env": run.env, "algo": run.algo},
                    keep=1)
    if not lead:
        return metrics
    plot_rewards(run.path("metrics.jsonl"), run.path("reward_curve.png"))
    print(f"{run.folder}: eval/episode_reward {_reward(metrics):.3f}; policy in {run.path('policy')}")
    if not args.no_render:
        for path in render_rollout(run, make_policy, params, run.path("rollout.gif"), run.seed):
            print(f"rollout: {path}")
    return metrics


def evaluate(args) -> float:
    run = Run.load(args.run)
    make_policy, params = load_policy(run)
    episodes = args.episodes or run.config.num_eval_envs
    evaluator = make_evaluator(_eval_env(run, episodes), make_policy, run.config.episode_length)
    reward = _reward({k: float(v) for k, v in evaluator(params, jax.random.PRNGKey(args.seed)).items()})
    print(f"{run.folder}: mean return over {episodes} episodes: {reward:.3f}")
    return reward


def render(args) -> str | None:
    run = Run.load(args.run)
    make_policy, params = load_policy(run)
    path = args.out or run.path("rollout.gif")
    written = render_rollout(run, make_policy, params, path, args.seed)
    for written_path in written:
        print(f"rollout: {written_path}")
    return written[0] if written else None


def main(argv: Sequence[str] | None = None):
    """Runs one command; returns what it computed (metrics, the mean return, the GIF path)."""
    args = _parser().parse_args(argv)
    return {"train": train, "eval": evaluate, "render": render}[args.command](args)


def console() -> int:
    """The `gambol` console script: exit status 0 once the command finished."""
    main()
    return 0


if __name__ == "__main__":
    sys.exit(console())
