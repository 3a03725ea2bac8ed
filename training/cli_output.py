"""What `gambol train` shows and writes while it runs: the progress bar, the
metric loggers (JSON lines always; TensorBoard and W&B on request), the reward
curve, and rendered rollouts (GIF or MP4, plus a 3D HTML player for rigid envs)."""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import numpy as np

from gambol.training.runs import Run


class Progress:
    """A text progress bar (steps, steps/s, reward, ETA) on stderr. Trainers round
    the budget up to whole iterations, so the bar's total grows to the true count
    when the steps pass it."""

    def __init__(self, total_steps: int, stream=sys.stderr):
        self.total, self.stream = total_steps, stream
        self.start = time.perf_counter()
        self.first_steps = self.steps = None

    def __call__(self, steps: int, metrics: dict) -> None:
        seconds = time.perf_counter() - self.start
        if self.first_steps is None:
            self.first_steps, self.start = steps, time.perf_counter()
            rate = 0.0
        else:
            rate = (steps - self.first_steps) / max(seconds, 1e-9)
        self.steps, self.total = steps, max(self.total, steps)
        eta = (self.total - steps) / rate if rate > 0 else float("nan")
        width, done = 30, steps / self.total
        bar = "#" * int(width * done) + "-" * (width - int(width * done))
        eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if np.isfinite(eta) else "--:--:--"
        self.stream.write(f"\r[{bar}] {steps:,}/{self.total:,} steps  {rate:,.0f} steps/s  "
                          f"reward {reward(metrics):.2f}  ETA {eta_text}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def reward(metrics: dict) -> float:
    """`eval/episode_reward`, or the sum over teams of a multi-agent env's."""
    values = [v for k, v in metrics.items() if k.startswith("eval/episode_reward")]
    return float(sum(values)) if values else float("nan")


# -- loggers --------------------------------------------------------------------------------

LOGGERS = ("jsonl", "tensorboard", "wandb")
LOGGER_MODULES = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb")}


class JsonLines:
    """Each report appended to `metrics.jsonl`: `step`, `seconds` and the metrics."""

    def __init__(self, run: Run):
        self.path, self.start = run.path("metrics.jsonl"), time.perf_counter()

    def __call__(self, steps: int, metrics: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": steps, "seconds": time.perf_counter() - self.start,
                                **metrics}) + "\n")

    def close(self) -> None:
        pass


class TensorBoard:
    """Scalars in `RUN/tensorboard/` (tensorboardX, as Brax's trainers use)."""

    def __init__(self, run: Run):
        from tensorboardX import SummaryWriter
        self.writer = SummaryWriter(logdir=run.path("tensorboard"))

    def __call__(self, steps: int, metrics: dict) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, steps)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandB:
    """A Weights & Biases run in `RUN/wandb/`, offline unless `WANDB_MODE` says otherwise."""

    def __init__(self, run: Run):
        import wandb
        self.wandb = wandb
        self.run = wandb.init(project="gambol", name=os.path.basename(os.path.abspath(run.folder)),
                              dir=run.folder, mode=os.environ.get("WANDB_MODE", "offline"),
                              config={"env": run.env, "algo": run.algo, "seed": run.seed,
                                      **run.settings})

    def __call__(self, steps: int, metrics: dict) -> None:
        self.run.log(metrics, step=steps)

    def close(self) -> None:
        self.run.finish()


def make_loggers(run: Run, names) -> list:
    """JSON lines always (the reward curve reads them), and the others named."""
    kinds = {"jsonl": JsonLines, "tensorboard": TensorBoard, "wandb": WandB}
    return [kinds[name](run) for name in dict.fromkeys(("jsonl", *names))]


# -- pictures -------------------------------------------------------------------------------

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


def write_video(path: str, frames: list, seconds_per_frame: float) -> None:
    """`frames` as a looping GIF or, for `.mp4`, an H.264 video (imageio-ffmpeg)."""
    import imageio.v2 as imageio
    if path.lower().endswith(".mp4"):
        imageio.mimwrite(path, frames, fps=1.0 / seconds_per_frame, macro_block_size=1)
    else:
        imageio.mimsave(path, frames, duration=seconds_per_frame, loop=0)


MAX_GIF_FRAMES = 150


def render_rollout(run: Run, env, make_policy, params, path: str, seed: int = 0) -> list[str]:
    """One deterministic episode of the unbatched `env` rendered to `path` (.gif or
    .mp4; at most `MAX_GIF_FRAMES` + 1 frames, evenly strided) and, for rigid-body
    envs, to a self-contained 3D player next to it (`.html`, every step); returns
    the paths written (none, with a message, if the env cannot render)."""
    policy = make_policy(params, deterministic=True)
    episode_length = run.config.episode_length

    @jax.jit
    def rollout(key):
        def body(state, key):
            state = env.step(state, policy(state.obs, key)[0])
            return state, state
        first = env.reset(key)
        _, states = jax.lax.scan(body, first, jax.random.split(key, episode_length))
        return first, states

    first, states = jax.device_get(rollout(jax.random.PRNGKey(seed)))
    try:
        frames = [env.render(first)]
    except NotImplementedError as error:
        print(f"render: skipped, {error}")
        return []
    done = np.asarray(states.done).reshape(episode_length, -1).all(axis=1)
    length = int(np.argmax(done)) + 1 if done.any() else episode_length
    stride = -(-length // MAX_GIF_FRAMES)          # long episodes: every stride-th step
    for t in range(stride - 1, length, stride):
        frames.append(env.render(jax.tree.map(lambda x: x[t], states)))
    write_video(path, frames, 0.05 * stride)
    written = [path]
    system = getattr(env.unwrapped, "sys", None)
    if system is not None:                     # a rigid-body env: its qp per agent step
        from gambol.envs.rigid_render import trajectory_html
        qps = jax.tree.map(lambda f, x: np.concatenate([f[None, 0], x[:length, 0]]),
                           first.pipeline_state, states.pipeline_state)
        html_path = os.path.splitext(path)[0] + ".html"
        repeat = getattr(run.config, "action_repeat", 1)
        trajectory_html(system, qps, html_path, fps=1.0 / (float(system.dt) * repeat),
                        title=f"gambol: {run.algo} on {run.env}")
        written.append(html_path)
    return written
