"""Drawing helpers shared by envs: a matplotlib figure off screen -> `uint8[H, W, 3]`."""

from __future__ import annotations

import numpy as np


def figure(size_px: int = 256):
    """A square off-screen figure and axes with nothing but the drawing area."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size_px / 100, size_px / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_aspect("equal")
    return fig, ax


def to_rgb(fig) -> np.ndarray:
    """Rasterise `fig` and return its pixels as `uint8[H, W, 3]`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
