"""Pictures of rigid-body rollouts: a self-contained HTML player, GIF/MP4 clips, single frames.

Bodies are drawn as their collider shapes (spheres, capsules, boxes as shaded
polygon meshes; planes as a floor grid) through a perspective camera that
orbits the mean position of the moving bodies. The same mesh, camera and
shading are used by the page (a canvas-2D painter's-algorithm renderer, all
JavaScript inline, no network at view time) and by the matplotlib frames.

    import jax, jax.numpy as jnp
    from gambol.physics.rigid import default_qp, load_system, step
    from gambol.envs import rigid_render

    sys = load_system("envs/assets/ant.toml")
    def body(qp, t):
        qp = step(sys, qp, jnp.sin(t + jnp.arange(sys.action_size)))
        return qp, qp
    _, qps = jax.lax.scan(body, default_qp(sys), jnp.arange(100) * 0.3)
    rigid_render.trajectory_html(sys, qps, "ant.html")   # open in any browser
    rigid_render.save_animation(sys, qps, "ant.gif")     # or "ant.mp4" with imageio-ffmpeg
    picture = rigid_render.render_frame(sys, jax.tree.map(lambda x: x[-1], qps))

A trajectory `qps` is a `QP` whose leaves have a leading time axis
(`pos: [T, B, 3]`, `rot: [T, B, 4]`), or a list of single `QP`s.
"""

from __future__ import annotations

import html
import json
import math
import pathlib
import weakref
from dataclasses import dataclass

import numpy as np

from gambol.envs.render import figure, to_rgb

BACKGROUND = "#eef1f5"
GRID_COLOR = "#9aa3ad"
PALETTE = ("#e07a2e", "#3a7dc9", "#4aa35a", "#c94a4a", "#8a63c2", "#c9a23a", "#3aa8a8", "#c2638f",
           "#6b8e23", "#2f4f8f")                   # body i gets PALETTE[i % 10]
FROZEN_COLOR = "#8c8c8c"
AMBIENT, DIFFUSE = 0.45, 0.55     # Lambert shading: ambient + diffuse * max(0, n . light)
GRID_LINES = 8                    # floor lines drawn on each side of the camera target
GIF_MIN_FRAME_S = 0.02            # browsers show GIF delays under 20 ms as 100 ms


@dataclass(frozen=True)
class Camera:
    """An orbit camera around a target point (z is up).

    azimuth / elevation: degrees, the direction from the target to the eye;
    distance: eye to target (None: fit the bodies); fov: vertical field of view, degrees."""
    azimuth: float = -60.0
    elevation: float = 25.0
    distance: float | None = None
    fov: float = 45.0


# -- geometry on the host (numpy) -------------------------------------------

def _np_rotate(v, q):
    """q v q* for v: [..., 3], q: [..., 4] (w, x, y, z)."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def _grid_quads(n_rows: int, n_cols: int) -> np.ndarray:
    """Quads [F, 4] joining ring i to ring i+1 of a (n_rows, n_cols) vertex grid, columns wrapping."""
    i, j = np.meshgrid(np.arange(n_rows - 1), np.arange(n_cols), indexing="ij")
    j1 = (j + 1) % n_cols
    return np.stack([i * n_cols + j, i * n_cols + j1, (i + 1) * n_cols + j1,
                     (i + 1) * n_cols + j], axis=-1).reshape(-1, 4)


def _round_mesh(radius: float, half_length: float, n_lat: int = 8, n_lon: int = 16):
    """A sphere (half_length 0) or a capsule along local z: rings of latitude from the
    -z pole to the +z pole; the lower half shifted by -half_length, the upper by +half_length
    (the equator appears twice, so the band between the two copies is the cylinder)."""
    half = np.linspace(-np.pi / 2, 0.0, n_lat // 2 + 1)
    lat = np.concatenate([half, -half[::-1]])
    shift = np.where(np.arange(lat.size) < half.size, -half_length, half_length)
    lon = np.linspace(0.0, 2 * np.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    verts = np.stack([radius * np.cos(la) * np.cos(lo), radius * np.cos(la) * np.sin(lo),
                      radius * np.sin(la) + shift[:, None]], axis=-1).reshape(-1, 3)
    return verts, _grid_quads(lat.size, n_lon)


def _box_mesh(halfsize):
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    faces = np.array([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4],
                      [1, 5, 7, 3]])
    return corners * np.asarray(halfsize, float), faces


@dataclass
class _Shape:
    body: int
    type: str
    color: str
    center: np.ndarray    # [3] collider origin in the body frame
    verts: np.ndarray     # [V, 3] in the body frame
    faces: np.ndarray     # [F, 4] vertex indices


@dataclass
class _Plane:
    body: int
    origin: np.ndarray    # [3] in the body frame
    u: np.ndarray         # [3] in-plane axes and normal, body frame
    v: np.ndarray
    normal: np.ndarray


@dataclass
class _Scene:
    """Everything static about a system's picture, in numpy."""
    shapes: list
    planes: list
    moving: np.ndarray    # [M] indices of bodies that are not frozen
    radius: float         # of the bodies around their mean at the rest pose
    spacing: float        # floor grid spacing


def _nice_spacing(radius: float) -> float:
    """A round grid spacing (1, 2 or 5 times a power of ten) near radius / 2."""
    target = max(radius, 1e-6) / 2
    power = 10.0 ** math.floor(math.log10(target))
    return min((m * power for m in (1, 2, 5, 10)), key=lambda s: abs(math.log(s / target)))


_SCENES: dict = {}   # id(sys) -> (weak reference to sys, its _Scene): Env.render draws often


def _scene(sys) -> _Scene:
    cached = _SCENES.get(id(sys))
    if cached is not None and cached[0]() is sys:
        return cached[1]
    if len(_SCENES) >= 8:
        _SCENES.clear()
    scene = _build_scene(sys)
    _SCENES[id(sys)] = (weakref.ref(sys), scene)
    return scene


def _build_scene(sys) -> _Scene:
    from gambol.physics.rigid.qp import default_qp

    c_pos = np.asarray(sys.collider_position, np.float64)
    c_rot = np.asarray(sys.collider_rotation, np.float64)
    frozen = [b.frozen for b in sys.spec.bodies]
    shapes, planes = [], []
    for c, (kind, body) in enumerate(zip(sys.collider_type, sys.collider_body)):
        to_body = lambda v: c_pos[c] + _np_rotate(v, c_rot[c])  # noqa: E731
        if kind == "plane":
            axes = _np_rotate(np.eye(3), np.broadcast_to(c_rot[c], (3, 4)))
            planes.append(_Plane(body, c_pos[c], axes[0], axes[1], axes[2]))
            continue
        if kind == "box":
            verts, faces = _box_mesh(np.asarray(sys.collider_halfsize[c], np.float64))
        else:
            verts, faces = _round_mesh(float(sys.collider_radius[c]),
                                       float(sys.collider_half_length[c]) if kind == "capsule" else 0.0)
        color = FROZEN_COLOR if frozen[body] else PALETTE[body % len(PALETTE)]
        shapes.append(_Shape(body, kind, color, c_pos[c], to_body(verts), faces))
    moving = np.array([b for b in range(sys.num_bodies) if not frozen[b]], np.int64)
    shown = moving if moving.size else np.arange(sys.num_bodies)
    rest = default_qp(sys)
    pos, rot = np.asarray(rest.pos, np.float64), np.asarray(rest.rot, np.float64)
    center = pos[shown].mean(axis=0)
    world = [pos[s.body] + _np_rotate(s.verts, rot[s.body]) for s in shapes if s.body in shown]
    radius = max((float(np.max(np.linalg.norm(w - center, axis=-1))) for w in world), default=1.0)
    return _Scene(shapes, planes, moving, radius, _nice_spacing(radius))


def _trajectory(sys, qps) -> tuple[np.ndarray, np.ndarray]:
    """pos [T, B, 3], rot [T, B, 4] as float64 numpy, with shapes checked."""
    if isinstance(qps, (list, tuple)):
        pos = np.stack([np.asarray(q.pos, np.float64) for q in qps])
        rot = np.stack([np.asarray(q.rot, np.float64) for q in qps])
    else:
        pos, rot = np.asarray(qps.pos, np.float64), np.asarray(qps.rot, np.float64)
    b = sys.num_bodies
    if pos.ndim != 3 or pos.shape[1:] != (b, 3) or pos.shape[0] == 0:
        raise ValueError(
            f"qps.pos: expected [T, {b}, 3] (time, the {b} bodies of {sys.spec.name!r}, xyz) with "
            f"T >= 1, got {pos.shape}; for a batch of envs pick one, e.g. "
            f"jax.tree.map(lambda x: x[:, 0], qps)")
    if rot.shape != pos.shape[:2] + (4,):
        raise ValueError(f"qps.rot: expected {pos.shape[:2] + (4,)} (unit quaternions w, x, y, z), "
                         f"got {rot.shape}")
    return pos, rot


def _frame_indices(num_steps: int, max_frames: int, min_stride: int = 1) -> np.ndarray:
    """Every stride-th step from 0, with the stride as small as keeps <= max_frames frames."""
    if not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError(f"max_frames: expected an int >= 1, got {max_frames!r}")
    stride = max(min_stride, math.ceil((num_steps - 1) / (max_frames - 1)) if max_frames > 1
                 else num_steps)
    return np.arange(0, num_steps, max(stride, 1))


def _steps_per_second(sys, fps) -> float:
    fps = 1.0 / float(sys.dt) if fps is None else fps
    if not isinstance(fps, (int, float)) or not fps > 0 or not math.isfinite(fps):
        raise ValueError(f"fps: expected a positive number of steps per second, got {fps!r}")
    return float(fps)


# -- the camera and one frame in matplotlib ----------------------------------

def _basis(camera: Camera):
    """Unit right, up and forward (eye -> target) vectors of the camera."""
    az, el = math.radians(camera.azimuth), math.radians(max(-89.0, min(89.0, camera.elevation)))
    forward = -np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    return right, np.cross(right, forward), forward


def _distance(scene: _Scene, camera: Camera) -> float:
    """The camera's distance, or one where a sphere 1.3 x the scene's radius fills the view."""
    if camera.distance is not None:
        return float(camera.distance)
    return 1.3 * scene.radius / math.sin(math.radians(camera.fov) / 2)


def _target(scene: _Scene, pos: np.ndarray) -> np.ndarray:
    """The orbit centre: the mean position of the moving bodies. pos: [B, 3]."""
    return pos[scene.moving].mean(axis=0) if scene.moving.size else pos.mean(axis=0)


def _hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[k:k + 2], 16) for k in (1, 3, 5)]) / 255.0


def _draw(ax, scene: _Scene, pos, rot, target, camera: Camera, size_px: int):
    """Paint one frame into `ax` (pixel coordinates, y down). pos: [B, 3], rot: [B, 4]."""
    from matplotlib.collections import LineCollection, PolyCollection

    right, up, forward = _basis(camera)
    eye = target - _distance(scene, camera) * forward
    focal = (size_px / 2) / math.tan(math.radians(camera.fov) / 2)
    near = 1e-3 * _distance(scene, camera)

    def to_view(p):                              # [..., 3] -> camera x, y, depth
        d = p - eye
        return np.stack([d @ right, d @ up, d @ forward], axis=-1)

    def to_screen(v):
        return np.stack([size_px / 2 + focal * v[..., 0] / v[..., 2],
                         size_px / 2 - focal * v[..., 1] / v[..., 2]], axis=-1)

    ax.set_xlim(0, size_px)
    ax.set_ylim(size_px, 0)
    ax.figure.set_facecolor(BACKGROUND)
    segments = []
    for plane in scene.planes:
        a, b = _grid_segments(scene, plane, pos, rot, target)
        va, vb = to_view(a), to_view(b)
        keep = (va[:, 2] > near) | (vb[:, 2] > near)
        va, vb = va[keep], vb[keep]
        # clip each segment to depth >= near: move the end behind the camera along the segment
        for p, q in ((va, vb), (vb, va)):
            behind = p[:, 2] < near
            s = (near - p[behind, 2]) / (q[behind, 2] - p[behind, 2])
            p[behind] = p[behind] + s[:, None] * (q[behind] - p[behind])
        segments.extend(np.stack([to_screen(va), to_screen(vb)], axis=1))
    ax.add_collection(LineCollection(segments, colors=GRID_COLOR, linewidths=0.6, zorder=1))
    light = _light(right, up, forward)
    polys, depths, colors = [], [], []
    for shape in scene.shapes:
        world = pos[shape.body] + _np_rotate(shape.verts, rot[shape.body])
        center = pos[shape.body] + _np_rotate(shape.center, rot[shape.body])
        quad = world[shape.faces]                                   # [F, 4, 3]
        normal = np.cross(quad[:, 2] - quad[:, 0], quad[:, 3] - quad[:, 1])
        mid = quad.mean(axis=1)
        normal *= np.sign(np.sum(normal * (mid - center), axis=-1, keepdims=True) + 1e-12)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-12
        view = to_view(quad)
        visible = (np.sum(normal * (eye - mid), axis=-1) > 0) & np.all(view[..., 2] > near, axis=-1)
        shade = AMBIENT + DIFFUSE * np.clip(normal[visible] @ light, 0.0, 1.0)
        polys.extend(to_screen(view[visible]))
        depths.extend(view[visible, :, 2].mean(axis=-1))
        colors.extend(np.clip(_hex_rgb(shape.color) * shade[:, None], 0.0, 1.0))
    order = np.argsort(depths)[::-1]                                # far faces first
    if len(order):
        colors = np.asarray(colors)[order]
        ax.add_collection(PolyCollection([polys[i] for i in order], facecolors=colors,
                                         edgecolors=colors, linewidths=0.3, zorder=2))


def _light(right, up, forward) -> np.ndarray:
    """Unit direction towards the light: over the viewer's left shoulder."""
    d = -0.35 * right + 0.6 * up - 0.7 * forward
    return d / np.linalg.norm(d)


def _grid_segments(scene: _Scene, plane: _Plane, pos, rot, target):
    """End points [L, 3] and [L, 3] of the floor lines of `plane` around the target's foot."""
    q = rot[plane.body]
    origin = pos[plane.body] + _np_rotate(plane.origin, q)
    u, v = _np_rotate(plane.u, q), _np_rotate(plane.v, q)
    s, n = scene.spacing, GRID_LINES
    a0, b0 = (round(float((target - origin) @ u) / s) * s, round(float((target - origin) @ v) / s) * s)
    k = np.arange(-n, n + 1)[:, None] * s
    base = origin + a0 * u + b0 * v
    starts = np.concatenate([base + k * u - n * s * v, base + k * v - n * s * u])
    ends = np.concatenate([base + k * u + n * s * v, base + k * v + n * s * u])
    return starts, ends


def render_frame(sys, qp, size_px: int = 320, camera: Camera = Camera()) -> np.ndarray:
    """One picture of a single state `qp` (pos: [B, 3]), `uint8[size_px, size_px, 3]`."""
    pos, rot = _trajectory(sys, [qp])
    scene = _scene(sys)
    fig, ax = figure(size_px)
    _draw(ax, scene, pos[0], rot[0], _target(scene, pos[0]), camera, size_px)
    return to_rgb(fig)


def save_animation(sys, qps, path, fps: float | None = None, max_frames: int = 150,
                   size_px: int = 320, camera: Camera = Camera(), follow: bool = True) -> str:
    """A GIF, or an MP4 when `path` ends in .mp4 (needs the imageio-ffmpeg package), of a rollout.

    fps: simulation steps per second of playback (default 1 / sys.dt, real time); frames are
    every k-th step with k as small as keeps <= `max_frames` frames (and, for a GIF, each frame
    shown >= 20 ms). follow: the camera tracks the moving bodies (else stays at frame 0's
    target). Returns the path."""
    import imageio.v2 as imageio

    path = str(path)
    pos, rot = _trajectory(sys, qps)
    steps_per_s = _steps_per_second(sys, fps)
    gif = not path.lower().endswith(".mp4")
    frames = _frame_indices(pos.shape[0], max_frames,
                            math.ceil(GIF_MIN_FRAME_S * steps_per_s - 1e-9) if gif else 1)
    if not gif:
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ImportError("save_animation: writing .mp4 needs the imageio-ffmpeg package "
                              "(pip install imageio-ffmpeg); a .gif needs nothing more") from None
    scene = _scene(sys)
    target0 = _target(scene, pos[frames[0]])
    pictures = []
    for t in frames:
        fig, ax = figure(size_px)
        _draw(ax, scene, pos[t], rot[t], _target(scene, pos[t]) if follow else target0,
              camera, size_px)
        pictures.append(to_rgb(fig))
    stride = int(frames[1] - frames[0]) if len(frames) > 1 else 1
    if gif:
        imageio.mimsave(path, pictures, duration=1000.0 * stride / steps_per_s, loop=0)
    else:
        imageio.mimsave(path, pictures, fps=steps_per_s / stride, macro_block_size=16)
    return path


# -- the HTML page -----------------------------------------------------------

def trajectory_data(sys, qps, fps: float | None = None, max_frames: int = 400,
                    camera: Camera = Camera()) -> dict:
    """The JSON-ready content of the page: static shapes (meshes in body frames) and, per
    frame, every body's position and rotation rounded to 4 decimals."""
    pos, rot = _trajectory(sys, qps)
    steps_per_s = _steps_per_second(sys, fps)
    frames = _frame_indices(pos.shape[0], max_frames)
    scene = _scene(sys)

    def r(x):
        return np.round(np.asarray(x, np.float64), 4).tolist()

    return {
        "name": sys.spec.name,
        "bodies": list(sys.body_names),
        "steps": frames.tolist(),
        "times": r(frames / steps_per_s),
        "pos": r(pos[frames]),
        "rot": r(rot[frames]),
        "moving": scene.moving.tolist(),
        "shapes": [{"body": s.body, "type": s.type, "color": s.color, "center": r(s.center),
                    "verts": r(s.verts), "faces": s.faces.tolist()} for s in scene.shapes],
        "planes": [{"body": p.body, "origin": r(p.origin), "u": r(p.u), "v": r(p.v)}
                   for p in scene.planes],
        "spacing": scene.spacing,
        "grid_lines": GRID_LINES,
        "camera": {"azimuth": camera.azimuth, "elevation": camera.elevation,
                   "distance": _distance(scene, camera), "fov": camera.fov},
        "style": {"background": BACKGROUND, "grid": GRID_COLOR, "ambient": AMBIENT,
                  "diffuse": DIFFUSE},
    }


def trajectory_html(sys, qps, path=None, fps: float | None = None, title: str | None = None,
                    max_frames: int = 400, camera: Camera = Camera()) -> str:
    """A self-contained HTML page that plays the rollout (no network needed to view it).

    Drag to orbit, wheel to zoom, slider and play/pause below the view; space toggles play,
    arrow keys step. The page address may end in `#frame=N` to open paused at frame N.
    fps: simulation steps per second of playback (default 1 / sys.dt, real time); at most
    `max_frames` evenly strided frames are embedded. Writes `path` if given; returns the page."""
    data = trajectory_data(sys, qps, fps, max_frames, camera)
    title = title if title is not None else f"gambol: {sys.spec.name}"
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = (_PAGE.replace("__TITLE__", html.escape(title))
            .replace("__DATA__", payload).replace("__SCRIPT__", _SCRIPT))
    if path is not None:
        pathlib.Path(path).write_text(page, encoding="utf-8")
    return page


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; color: #222; }
  #view { width: 100%; max-width: 900px; aspect-ratio: 16 / 10; display: block;
          border: 1px solid #ccc; cursor: grab; touch-action: none; }
  #controls { display: flex; gap: 10px; align-items: center; max-width: 900px; margin-top: 8px; }
  #slider { flex: 1; }
  #clock { font-variant-numeric: tabular-nums; min-width: 9em; }
</style>
</head>
<body>
<h3>__TITLE__</h3>
<canvas id="view"></canvas>
<div id="controls">
  <button id="play">Pause</button>
  <input id="slider" type="range" min="0" value="0" step="1">
  <span id="clock"></span>
  <label>speed <select id="speed"><option>0.25</option><option>0.5</option>
    <option selected>1</option><option>2</option><option>4</option></select></label>
  <label><input id="follow" type="checkbox" checked> follow</label>
  <button id="reset">Reset view</button>
</div>
<script type="application/json" id="trajectory">__DATA__</script>
<script>
__SCRIPT__
</script>
</body>
</html>
"""

_SCRIPT = r"""
"use strict";
const D = JSON.parse(document.getElementById("trajectory").textContent);
const canvas = document.getElementById("view"), ctx = canvas.getContext("2d");
const slider = document.getElementById("slider"), playButton = document.getElementById("play");
const clock = document.getElementById("clock");
const nFrames = D.pos.length;
let frame = 0, playing = nFrames > 1, speed = 1, follow = true, elapsed = 0, last = null;
let cam = Object.assign({}, D.camera);

// -- vector helpers (arrays of 3) and the quaternion rotation q v q*
const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const unit = (a) => scale(a, 1 / (Math.hypot(a[0], a[1], a[2]) || 1));
function rotate(q, v) {
  const u = [q[1], q[2], q[3]], t = scale(cross(u, v), 2);
  return add(add(v, scale(t, q[0])), cross(u, t));
}

function target(f) {
  const ids = D.moving.length ? D.moving : D.pos[f].map((_, i) => i);
  let c = [0, 0, 0];
  for (const b of ids) c = add(c, D.pos[f][b]);
  return scale(c, 1 / ids.length);
}

function camera(tgt, width, height) {
  const az = cam.azimuth * Math.PI / 180;
  const el = Math.max(-89, Math.min(89, cam.elevation)) * Math.PI / 180;
  const forward = [-Math.cos(el) * Math.cos(az), -Math.cos(el) * Math.sin(az), -Math.sin(el)];
  const right = unit(cross(forward, [0, 0, 1])), up = cross(right, forward);
  const eye = sub(tgt, scale(forward, cam.distance));
  const focal = (height / 2) / Math.tan(cam.fov * Math.PI / 360);
  const near = 1e-3 * cam.distance;
  const light = unit(add(add(scale(right, -0.35), scale(up, 0.6)), scale(forward, -0.7)));
  const view = (p) => { const d = sub(p, eye); return [dot(d, right), dot(d, up), dot(d, forward)]; };
  const screen = (v) => [width / 2 + focal * v[0] / v[2], height / 2 - focal * v[1] / v[2]];
  return {eye, near, light, view, screen};
}

function shade(hex, s) {
  const c = [1, 3, 5].map((k) => Math.min(255, Math.round(parseInt(hex.substr(k, 2), 16) * s)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function drawGrid(c, tgt, pos, rot) {
  ctx.strokeStyle = D.style.grid;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const p of D.planes) {
    const q = rot[p.body], origin = add(pos[p.body], rotate(q, p.origin));
    const u = rotate(q, p.u), v = rotate(q, p.v), s = D.spacing, n = D.grid_lines;
    const rel = sub(tgt, origin);
    const base = add(origin, add(scale(u, Math.round(dot(rel, u) / s) * s),
                                 scale(v, Math.round(dot(rel, v) / s) * s)));
    for (let k = -n; k <= n; k++) {
      for (const [a, b] of [[u, v], [v, u]]) {
        let p0 = c.view(add(base, add(scale(a, k * s), scale(b, -n * s))));
        let p1 = c.view(add(base, add(scale(a, k * s), scale(b, n * s))));
        if (p0[2] < c.near && p1[2] < c.near) continue;
        if (p0[2] < c.near) p0 = add(p0, scale(sub(p1, p0), (c.near - p0[2]) / (p1[2] - p0[2])));
        if (p1[2] < c.near) p1 = add(p1, scale(sub(p0, p1), (c.near - p1[2]) / (p0[2] - p1[2])));
        const s0 = c.screen(p0), s1 = c.screen(p1);
        ctx.moveTo(s0[0], s0[1]);
        ctx.lineTo(s1[0], s1[1]);
      }
    }
  }
  ctx.stroke();
}

function drawBodies(c, pos, rot) {
  const faces = [];
  for (const sh of D.shapes) {
    const q = rot[sh.body], p = pos[sh.body];
    const world = sh.verts.map((v) => add(p, rotate(q, v)));
    const center = add(p, rotate(q, sh.center));
    for (const f of sh.faces) {
      const quad = f.map((i) => world[i]);
      let normal = cross(sub(quad[2], quad[0]), sub(quad[3], quad[1]));
      const mid = scale(add(add(quad[0], quad[1]), add(quad[2], quad[3])), 0.25);
      if (dot(normal, sub(mid, center)) < 0) normal = scale(normal, -1);
      normal = unit(normal);
      if (dot(normal, sub(c.eye, mid)) <= 0) continue;           // back face
      const v = quad.map(c.view);
      if (v.some((x) => x[2] <= c.near)) continue;
      const light = D.style.ambient + D.style.diffuse * Math.max(0, dot(normal, c.light));
      faces.push({depth: (v[0][2] + v[1][2] + v[2][2] + v[3][2]) / 4,
                  points: v.map(c.screen), color: shade(sh.color, light)});
    }
  }
  faces.sort((a, b) => b.depth - a.depth);                       // painter's algorithm
  ctx.lineWidth = 0.5;
  for (const f of faces) {
    ctx.beginPath();
    ctx.moveTo(f.points[0][0], f.points[0][1]);
    for (let i = 1; i < 4; i++) ctx.lineTo(f.points[i][0], f.points[i][1]);
    ctx.closePath();
    ctx.fillStyle = ctx.strokeStyle = f.color;
    ctx.fill();
    ctx.stroke();
  }
  return faces.length;
}

let followTarget = target(0);
function draw() {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 800, height = canvas.clientHeight || 500;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = D.style.background;
  ctx.fillRect(0, 0, width, height);
  if (follow) followTarget = target(frame);
  const c = camera(followTarget, width, height);
  drawGrid(c, followTarget, D.pos[frame], D.rot[frame]);
  const drawn = drawBodies(c, D.pos[frame], D.rot[frame]);
  slider.value = frame;
  clock.textContent = `t = ${D.times[frame].toFixed(2)} s  (step ${D.steps[frame]})`;
  canvas.dataset.frame = frame;
  canvas.dataset.faces = drawn;
}

function setFrame(f) { frame = Math.max(0, Math.min(nFrames - 1, f)); draw(); }
function setPlaying(p) { playing = p && nFrames > 1; playButton.textContent = playing ? "Pause" : "Play"; last = null; }

function tick(now) {
  if (playing) {
    if (last !== null) elapsed += speed * (now - last) / 1000;
    last = now;
    const end = D.times[nFrames - 1], period = end + (D.times[1] - D.times[0] || 0);
    if (elapsed >= period) elapsed %= period;
    let f = frame;
    while (f + 1 < nFrames && D.times[f + 1] <= elapsed) f++;
    while (f > 0 && D.times[f] > elapsed) f--;
    if (f !== frame) setFrame(f);
  }
  requestAnimationFrame(tick);
}

// -- controls
slider.max = nFrames - 1;
slider.addEventListener("input", () => { setPlaying(false); setFrame(+slider.value); elapsed = D.times[frame]; });
playButton.addEventListener("click", () => setPlaying(!playing));
document.getElementById("speed").addEventListener("change", (e) => { speed = +e.target.value; });
document.getElementById("follow").addEventListener("change", (e) => { follow = e.target.checked; draw(); });
document.getElementById("reset").addEventListener("click", () => { cam = Object.assign({}, D.camera); draw(); });
document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, select, button")) return;       // the control handles its own keys
  if (e.key === " ") { setPlaying(!playing); e.preventDefault(); }
  if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
    setPlaying(false); setFrame(frame + (e.key === "ArrowRight" ? 1 : -1)); elapsed = D.times[frame];
  }
});
let drag = null;
canvas.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
canvas.addEventListener("pointerup", () => { drag = null; });
canvas.addEventListener("pointermove", (e) => {
  if (!drag) return;
  cam.azimuth -= 0.4 * (e.clientX - drag[0]);
  cam.elevation = Math.max(-89, Math.min(89, cam.elevation + 0.4 * (e.clientY - drag[1])));
  drag = [e.clientX, e.clientY];
  draw();
});
canvas.addEventListener("wheel", (e) => { cam.distance *= Math.exp(0.001 * e.deltaY); draw(); e.preventDefault(); },
                        {passive: false});
window.addEventListener("resize", draw);

const hash = /frame=(\d+)/.exec(location.hash);
if (hash) { setPlaying(false); frame = Math.min(nFrames - 1, +hash[1]); elapsed = D.times[frame]; }
setPlaying(playing);
draw();
requestAnimationFrame(tick);
"""
