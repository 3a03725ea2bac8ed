"""Pictures of rigid-body rollouts: the HTML player, GIF/MP4 clips and single frames."""

import json
import math
import os
import re
import shutil
import subprocess

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.envs import rigid_render as rr
from gambol.physics.rigid import QP, Body, Collider, SystemSpec, build_system, default_qp, load_system, step
from gambol.physics.rigid.math import euler_to_quat

ANT = os.path.join(os.path.dirname(rr.__file__), "assets", "ant.toml")
GROUND = Body("ground", colliders=(Collider("plane"),), frozen_position=(1, 1, 1),
              frozen_rotation=(1, 1, 1))


def shapes_system(*bodies, name="shapes"):
    return build_system(SystemSpec(name=name, bodies=tuple(bodies) + (GROUND,)))


def still(sys, positions, rotations=None):
    """A single QP with the given body positions [B, 3] (ground last, at the origin)."""
    pos = jnp.asarray(list(positions) + [(0.0, 0.0, 0.0)], jnp.float32)
    qp = QP.zero(sys.num_bodies)
    rot = qp.rot if rotations is None else jnp.concatenate([rotations, qp.rot[-1:]])
    return qp.replace(pos=pos, rot=rot)


def is_color(img, hex_color, tol=14.0):
    """Pixels that are `hex_color` shaded (scaled by some s in [0.4, 1], Lambert shading)."""
    ref = rr._hex_rgb(hex_color) * 255
    px = img[..., :3].astype(float)
    s = px @ ref / (ref @ ref)
    return (np.abs(px - s[..., None] * ref).max(-1) < tol) & (s > 0.4) & (s < 1.02)


@pytest.fixture(scope="module")
def ant():
    sys = load_system(ANT)

    def body(qp, t):
        qp = step(sys, qp, jnp.sin(t + jnp.arange(sys.action_size)))
        return qp, qp

    _, qps = jax.jit(lambda qp: jax.lax.scan(body, qp, jnp.arange(24) * 0.4))(default_qp(sys))
    return sys, qps


def page_data(page):
    block = re.search(r'<script type="application/json" id="trajectory">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


# -- the HTML page, without a browser ---------------------------------------

def test_html_is_self_contained(ant, tmp_path):
    sys, qps = ant
    page = rr.trajectory_html(sys, qps, tmp_path / "ant.html")
    assert (tmp_path / "ant.html").read_text(encoding="utf-8") == page
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.I), "reaches the network"
    assert not re.search(r"<(script|img|link|iframe)[^>]*\s(src|href)\s*=", page, re.I)
    assert "<canvas" in page and "getContext(\"2d\")" in page


def test_html_json_round_trips_the_trajectory(ant):
    sys, qps = ant
    data = page_data(rr.trajectory_html(sys, qps))
    steps = len(qps.pos)
    assert data["bodies"] == list(sys.body_names)
    assert data["steps"] == list(range(steps))
    np.testing.assert_allclose(data["times"], np.arange(steps) * float(sys.dt), atol=1e-4)
    np.testing.assert_allclose(np.array(data["pos"]), qps.pos, atol=5.1e-5)
    np.testing.assert_allclose(np.array(data["rot"]), qps.rot, atol=5.1e-5)
    assert np.array(data["pos"]).shape == (steps, sys.num_bodies, 3)
    # one shape per capsule of the ant, one floor plane
    assert [s["type"] for s in data["shapes"]] == ["capsule"] * (sys.num_bodies - 1)
    assert [p["body"] for p in data["planes"]] == [sys.body_index("Ground")]


def test_html_subsamples_to_max_frames(ant):
    sys, qps = ant
    data = page_data(rr.trajectory_html(sys, qps, max_frames=7, fps=10.0))
    # 24 steps into <= 7 frames: every ceil(23 / 6) = 4th step
    assert data["steps"] == [0, 4, 8, 12, 16, 20]
    np.testing.assert_allclose(data["times"], np.array(data["steps"]) / 10.0)
    np.testing.assert_allclose(np.array(data["pos"]), qps.pos[::4], atol=5.1e-5)


def test_html_escapes_title_and_names():
    sys = shapes_system(Body("a</script><b>", colliders=(Collider("sphere", radius=0.5),)))
    qp = still(sys, [(0.0, 0.0, 1.0)])
    page = rr.trajectory_html(sys, [qp, qp], title="<i>mine</i> & yours")
    assert "<title>&lt;i&gt;mine&lt;/i&gt; &amp; yours</title>" in page
    assert page.count("</script>") == 2                 # the data block and the code block
    assert page_data(page)["bodies"] == ["a</script><b>", "ground"]


def test_bad_trajectories_are_refused(ant):
    sys, qps = ant
    with pytest.raises(ValueError, match=r"qps.pos: expected \[T, 10, 3\].*got \(24, 9, 3\)"):
        rr.trajectory_html(sys, jax.tree.map(lambda x: x[:, :9], qps))
    batched = jax.tree.map(lambda x: jnp.stack([x, x], 1), qps)
    with pytest.raises(ValueError, match=r"pick one.*x\[:, 0\]"):
        rr.save_animation(sys, batched, "never.gif")
    with pytest.raises(ValueError, match="qps.rot"):
        rr.trajectory_html(sys, qps.replace(rot=qps.rot[..., :3]))
    with pytest.raises(ValueError, match="max_frames"):
        rr.trajectory_html(sys, qps, max_frames=0)
    with pytest.raises(ValueError, match="fps"):
        rr.trajectory_html(sys, qps, fps=0.0)


# -- single frames -----------------------------------------------------------

def test_render_frame_draws_a_sphere_at_its_projected_size():
    radius, distance, size, fov = 0.5, 4.0, 200, 45.0
    sys = shapes_system(Body("ball", colliders=(Collider("sphere", radius=radius),)))
    camera = rr.Camera(azimuth=-90.0, elevation=20.0, distance=distance, fov=fov)
    img = rr.render_frame(sys, still(sys, [(1.0, 2.0, 1.5)]), size_px=size, camera=camera)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    ball = is_color(img, rr.PALETTE[0])
    # the camera looks at the moving bodies' mean: the ball is centred ...
    ys, xs = np.nonzero(ball)
    np.testing.assert_allclose([xs.mean(), ys.mean()], [size / 2 - 0.5] * 2, atol=1.0)
    # ... and its silhouette is a disc of radius focal * r / sqrt(d^2 - r^2) (the mesh is an
    # inscribed polygon and antialiased edge pixels do not count, so it comes out a bit smaller)
    focal = (size / 2) / math.tan(math.radians(fov) / 2)
    expected = focal * radius / math.sqrt(distance ** 2 - radius ** 2)
    assert 0.88 < ball.sum() / (math.pi * expected ** 2) < 1.02
    # the floor grid shows around it
    gray = np.all(np.abs(img.astype(int) - rr._hex_rgb(rr.GRID_COLOR) * 255) < 40, axis=-1)
    assert gray[size // 2:].sum() > 100
    # a system with other constants is drawn with them (nothing stale is reused)
    bigger = sys.replace(collider_radius=sys.collider_radius * 1.5)
    img = rr.render_frame(bigger, still(sys, [(1.0, 2.0, 1.5)]), size_px=size, camera=camera)
    assert abs(is_color(img, rr.PALETTE[0]).sum() / ball.sum() - 1.5 ** 2) < 0.25


def test_render_frame_places_capsule_and_box_by_their_rotations():
    # a capsule rotated 90 degrees about y lies along world x; seen from -y it is a wide stadium
    size, distance, fov = 240, 6.0, 45.0
    sys = shapes_system(Body("rod", colliders=(Collider("capsule", radius=0.2, length=2.0,
                                                        rotation=(0.0, 90.0, 0.0)),)),
                        Body("crate", colliders=(Collider("box", halfsize=(0.3, 0.3, 0.3)),)))
    camera = rr.Camera(azimuth=-90.0, elevation=0.0, distance=distance, fov=fov)
    crate_x = 1.6
    img = rr.render_frame(sys, still(sys, [(-0.8, 0.0, 1.0), (crate_x, 0.0, 1.0)]), size_px=size,
                          camera=camera)
    focal = (size / 2) / math.tan(math.radians(fov) / 2)
    rod = is_color(img, rr.PALETTE[0])
    ys, xs = np.nonzero(rod)
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert abs(width / (focal * 2.0 / distance) - 1) < 0.1   # 2 m long, seen from 6 m
    assert abs(height / (focal * 0.4 / distance) - 1) < 0.2  # 0.4 m thick
    crate = is_color(img, rr.PALETTE[1])
    ys, xs = np.nonzero(crate)
    # the camera targets the mean (0.4, 0, 1): the crate's centre is 1.2 m right of it
    assert abs(xs.mean() - (size / 2 + focal * (crate_x - 0.4) / distance)) < 3
    assert abs(ys.mean() - size / 2) < 3
    # the crate's front face is a 0.6 m square seen from 5.7 m
    assert abs(crate.sum() / (focal * 0.6 / (distance - 0.3)) ** 2 - 1) < 0.15


# -- animations --------------------------------------------------------------

def rolling_ball(steps=9):
    sys = shapes_system(Body("ball", colliders=(Collider("sphere", radius=0.3),)))
    x = jnp.linspace(0.0, 1.0, steps)
    pos = jnp.stack([jnp.stack([x, 0 * x, 0.3 + 0 * x], -1), jnp.zeros((steps, 3))], 1)
    rot = jnp.broadcast_to(euler_to_quat(jnp.zeros(3)), (steps, 2, 4))
    return sys, QP(pos, rot, jnp.zeros_like(pos), jnp.zeros_like(pos))


@pytest.mark.parametrize("follow", [False, True])
def test_gif_frames_follow_the_body(tmp_path, follow):
    sys, qps = rolling_ball(9)
    path = rr.save_animation(sys, qps, tmp_path / "ball.gif", fps=20.0, max_frames=5, size_px=96,
                             camera=rr.Camera(azimuth=-90.0, elevation=15.0, distance=4.0),
                             follow=follow)
    frames = iio.imread(path, index=None)[..., :3]
    assert frames.shape == (5, 96, 96, 3)                    # steps 0, 2, 4, 6, 8
    assert iio.immeta(path, index=0)["duration"] == pytest.approx(100.0)   # 2 steps at 20 / s
    centers = []
    for f in frames:
        ys, xs = np.nonzero(is_color(f, rr.PALETTE[0]))
        assert xs.size > 50                                   # the ball is drawn in every frame
        centers.append(xs.mean())
    assert all(np.any(a != b) for a, b in zip(frames[:-1], frames[1:]))
    if follow:       # the ball stays centred, the floor slides under it
        np.testing.assert_allclose(centers, 47.5, atol=1.5)
    else:            # the ball moves right across the picture
        assert np.all(np.diff(centers) > 3)


def test_gif_frames_last_at_least_20_ms(tmp_path):
    sys, qps = rolling_ball(9)
    path = rr.save_animation(sys, qps, tmp_path / "fast.gif", fps=200.0, size_px=64)
    # 200 steps / s would be 5 ms a frame: every 4th step shown for 20 ms
    assert len(iio.imread(path, index=None)) == 3
    assert iio.immeta(path, index=0)["duration"] == pytest.approx(20.0)


def test_mp4_needs_imageio_ffmpeg(tmp_path):
    sys, qps = rolling_ball(6)
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install imageio-ffmpeg"):
            rr.save_animation(sys, qps, tmp_path / "ball.mp4", size_px=64)
        return
    path = rr.save_animation(sys, qps, tmp_path / "ball.mp4", size_px=64)
    assert len(iio.imread(path, index=None)) == 6


# -- the page in a headless browser -----------------------------------------

def find_chromium():
    for name in (os.environ.get("GAMBOL_CHROMIUM"), "chromium-headless-shell", "chromium",
                 "chromium-browser", "chrome-headless-shell", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def run_chromium(binary, url, *args):
    out = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu",
                          "--enable-logging=stderr", "--v=0", "--window-size=1000,760", *args, url],
                         capture_output=True, text=True, timeout=120)
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    return out, console


@pytest.mark.skipif(find_chromium() is None,
                    reason="no headless Chromium (apt-get install chromium-headless-shell, "
                           "or set GAMBOL_CHROMIUM to a chrome binary)")
def test_page_draws_the_bodies_in_chromium(ant, tmp_path):
    sys, qps = ant
    binary = find_chromium()
    url = (tmp_path / "ant.html").as_uri()
    rr.trajectory_html(sys, qps, tmp_path / "ant.html")
    last = len(qps.pos) - 1
    shots = []
    for frame in (0, last):
        png = tmp_path / f"frame{frame}.png"
        out, console = run_chromium(binary, f"{url}#frame={frame}", f"--screenshot={png}")
        assert console == [], console                   # no errors or logs from the page
        shots.append(iio.imread(png)[..., :3])
        dom, console = run_chromium(binary, f"{url}#frame={frame}", "--dump-dom")
        assert console == []
        assert f'data-frame="{frame}"' in dom.stdout
        assert int(re.search(r'data-faces="(\d+)"', dom.stdout).group(1)) > 300
    for shot in shots:     # the moving bodies' colours show (a leg may hide behind the torso)
        shown = [is_color(shot, rr.PALETTE[b]).sum() > 30 for b in range(sys.num_bodies - 1)]
        assert sum(shown) >= 7, shown
    changed = np.abs(shots[0].astype(int) - shots[1]).sum(-1) > 60
    assert changed.sum() > 500                          # the bodies moved between the frames


def test_a_rigid_env_renders_its_state():
    from gambol import envs
    env = envs.make("ant")
    state = env.reset(jax.random.PRNGKey(0))
    image = env.render(state)
    assert image.shape == (320, 320, 3) and image.dtype == np.uint8
    # the ant's bodies are drawn: the picture holds more than the background and the floor
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20
