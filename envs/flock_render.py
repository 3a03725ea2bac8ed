"""Pictures of a flock: boids as arrows, predators in red, obstacles as disks, the box outlined."""

from __future__ import annotations

import numpy as np

from gambol.envs.render import figure, to_rgb


def _draw(ax, env, s):
    from matplotlib.patches import Circle, Rectangle

    L = env.box_size
    ax.set_xlim(-0.02 * L, 1.02 * L)
    ax.set_ylim(-0.02 * L, 1.02 * L)
    ax.add_patch(Rectangle((0, 0), L, L, fill=False, lw=1.5, color="0.3"))
    p = env.params
    for c, r in zip(np.asarray(p.obstacle_position), np.asarray(p.obstacle_radius)):
        ax.add_patch(Circle(tuple(c), float(r), color="0.75"))
    R, th = np.asarray(s.boids.position), np.asarray(s.boids.theta)
    arrow = 0.012 * L
    ax.quiver(R[:, 0], R[:, 1], np.cos(th), np.sin(th), color="tab:blue", angles="xy",
              scale_units="xy", scale=1 / arrow, width=0.004, headwidth=3)
    if env.num_predators:
        Q, tq = np.asarray(s.predators.position), np.asarray(s.predators.theta)
        ax.quiver(Q[:, 0], Q[:, 1], np.cos(tq), np.sin(tq), color="tab:red", angles="xy",
                  scale_units="xy", scale=1 / (2 * arrow), width=0.008, headwidth=3)


def draw_frame(env, pipeline_state, size_px: int = 400) -> np.ndarray:
    """One frame, `uint8[H, W, 3]`."""
    fig, ax = figure(size_px)
    _draw(ax, env, pipeline_state)
    return to_rgb(fig)


def save_png(env, pipeline_state, path, size_px: int = 600) -> str:
    """A still picture of one state."""
    import imageio.v3 as iio

    iio.imwrite(path, draw_frame(env, pipeline_state, size_px))
    return str(path)


def save_animation(env, pipeline_states, path, fps: int = 20, size_px: int = 400) -> str:
    """An animated GIF (or MP4 if `path` ends in .mp4 and ffmpeg is available) of a rollout.

    `pipeline_states`: a FlockState whose leaves have a leading time axis.
    """
    import imageio.v2 as imageio
    import jax

    frames = [draw_frame(env, jax.tree_util.tree_map(lambda x: x[t], pipeline_states), size_px)
              for t in range(np.asarray(pipeline_states.boids.theta).shape[0])]
    if str(path).endswith(".gif"):
        imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
    else:
        imageio.mimsave(path, frames, fps=fps)
    return str(path)
