"""Collision geometry against brute force (sampled surfaces and segments), closed forms,
degenerate configurations (finite values and gradients) and finite-difference gradients."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from gambol.physics.rigid import geometry as geo

UP = np.array([0.0, 0.0, 1.0])


# ---------------------------------------------------------------------------
# numpy brute force and reference shapes


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)  # det +1


def random_unit(rng):
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def segment_samples(a0, a1, n=801):
    return a0 + np.linspace(0.0, 1.0, n)[:, None] * (a1 - a0)


def capsule_ends(center, axis, half_length):
    return center - half_length * axis, center + half_length * axis


def nearest_pair(P, Q):
    """Sampled closest pair: (distance, p, q) over P: [n, 3], Q: [m, 3]."""
    d = np.linalg.norm(P[:, None] - Q[None], axis=-1)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return d[i, j], P[i], Q[j]


def box_surface(center, rot, halfsize, n=101):
    """A grid of n x n points on each of the 6 faces: [6 n^2, 3] world."""
    u = np.linspace(-1.0, 1.0, n)
    a, b = (g.ravel() for g in np.meshgrid(u, u))
    faces = []
    for axis in range(3):
        others = [k for k in range(3) if k != axis]
        for side in (-1.0, 1.0):
            local = np.zeros((a.size, 3))
            local[:, axis] = side
            local[:, others[0]], local[:, others[1]] = a, b
            faces.append(local * halfsize)
    return center + np.concatenate(faces) @ rot.T


def box_sdf(center, rot, halfsize, x):
    """Closed-form signed distance of points x: [..., 3] to a box."""
    q = np.abs((x - center) @ rot) - halfsize
    return np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(-1), 0.0)


def segment_sdf(a0, a1, radius, x):
    d = a1 - a0
    t = np.clip((x - a0) @ d / max(d @ d, 1e-300), 0.0, 1.0)
    return np.linalg.norm(x - (a0 + t[..., None] * d), axis=-1) - radius


def surfaces_of(contact):
    """(A's surface point, B's surface point) of each contact: point -+ dist/2 normal."""
    c = jax.tree.map(np.asarray, contact)
    half = 0.5 * c.dist[..., None] * c.normal
    return c.point - half, c.point + half


def unit_rows(contact):
    np.testing.assert_allclose(np.linalg.norm(np.asarray(contact.normal), axis=-1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------------
# closest points on segments


def test_closest_segment_points_are_the_sampled_minimum_including_parallel_and_point_segments():
    rng = np.random.default_rng(0)
    a0, a1, b0, b1 = (rng.normal(size=(24, 3)) for _ in range(4))
    a1[:4] = a0[:4] + 1.5 * (b1[:4] - b0[:4])            # parallel
    b0[4:6], b1[4:6] = a0[4:6] + [0.1, 0.2, 0.3], a1[4:6] + [0.1, 0.2, 0.3]  # parallel, overlapping
    a1[6] = a0[6]                                          # a point against a segment
    b1[7] = b0[7]                                          # a segment against a point
    p, q = jax.jit(jax.vmap(geo.closest_segment_points))(a0, a1, b0, b1)
    p, q = np.asarray(p), np.asarray(q)
    for i in range(len(a0)):
        best, _, _ = nearest_pair(segment_samples(a0[i], a1[i]), segment_samples(b0[i], b1[i]))
        ours = np.linalg.norm(q[i] - p[i])
        assert ours <= best + 1e-5 and ours >= best - 1e-3, (i, ours, best)
        # p lies on A, q on B
        assert segment_sdf(a0[i], a1[i], 0.0, p[i]) < 1e-5
        assert segment_sdf(b0[i], b1[i], 0.0, q[i]) < 1e-5
    # parallel shifted copies meet at the middle of the stretch where they overlap
    for i in (4, 5):
        d = a1[i] - a0[i]
        shift = np.dot([0.1, 0.2, 0.3], d) / (d @ d)
        middle = 0.5 * (max(0.0, shift) + min(1.0, 1.0 + shift))
        np.testing.assert_allclose(p[i], a0[i] + middle * d, atol=1e-5)


def test_closest_point_on_segment_clamps_and_handles_a_zero_length_segment():
    a0, a1 = jnp.array([0.0, 0.0, 0.0]), jnp.array([2.0, 0.0, 0.0])
    np.testing.assert_allclose(geo.closest_point_on_segment(a0, a1, jnp.array([0.5, 1.0, -3.0])), [0.5, 0, 0])
    np.testing.assert_allclose(geo.closest_point_on_segment(a0, a1, jnp.array([-4.0, 1.0, 0.0])), [0, 0, 0])
    np.testing.assert_allclose(geo.closest_point_on_segment(a0, a1, jnp.array([9.0, 1.0, 0.0])), [2, 0, 0])
    np.testing.assert_allclose(geo.closest_point_on_segment(a0, a0, jnp.array([9.0, 1.0, 0.0])), [0, 0, 0])


# ---------------------------------------------------------------------------
# sphere and capsule pairs against sampled cores


def random_round_pairs(rng, n, spread):
    """Random capsules (half_length 0 for spheres) close enough to overlap in about half the cases."""
    def one():
        return (rng.normal(size=3) * spread, random_unit(rng), rng.uniform(0.2, 1.0), rng.uniform(0.1, 0.5))
    return [(one(), one()) for _ in range(n)]


@pytest.mark.parametrize("kind", ["sphere_sphere", "sphere_capsule", "capsule_capsule"])
def test_round_pairs_match_sampled_core_distance_and_direction(kind):
    rng = np.random.default_rng(1)
    pairs = random_round_pairs(rng, 24, 0.8 if kind == "capsule_capsule" else 0.35)
    if kind != "capsule_capsule":
        pairs = [((c1, ax1, 0.0, r1), B) for (c1, ax1, _, r1), B in pairs]
    if kind == "sphere_sphere":
        pairs = [(A, (c2, ax2, 0.0, r2)) for A, (c2, ax2, _, r2) in pairs]
    cols = [np.array(col) for col in zip(*[A + B for A, B in pairs])]
    c1, ax1, hl1, r1, c2, ax2, hl2, r2 = cols
    if kind == "sphere_sphere":
        contact = jax.vmap(geo.sphere_sphere)(c1, r1, c2, r2)
    elif kind == "sphere_capsule":
        contact = jax.vmap(geo.sphere_capsule)(c1, r1, c2, ax2, hl2, r2)
    else:
        contact = jax.vmap(geo.capsule_capsule)(c1, ax1, hl1, r1, c2, ax2, hl2, r2)
    assert contact.dist.shape == (24, 1) and contact.normal.shape == (24, 1, 3)
    unit_rows(contact)
    on_a, on_b = surfaces_of(contact)
    overlapping = 0
    for i in range(24):
        A, B = capsule_ends(c1[i], ax1[i], hl1[i]), capsule_ends(c2[i], ax2[i], hl2[i])
        core, p, q = nearest_pair(segment_samples(*A), segment_samples(*B))
        expected = core - r1[i] - r2[i]
        overlapping += expected < 0
        assert abs(contact.dist[i, 0] - expected) < 2e-3, (i, contact.dist[i, 0], expected)
        if core > 0.1:
            np.testing.assert_allclose(contact.normal[i, 0], (q - p) / core, atol=0.03)
        # the contact point is midway between two surface points: A's and B's
        assert abs(segment_sdf(*A, r1[i], on_a[i, 0])) < 1e-4
        assert abs(segment_sdf(*B, r2[i], on_b[i, 0])) < 1e-4
    assert 3 <= overlapping <= 21  # both separated and penetrating cases were exercised


def test_capsule_capsule_parallel_and_crossing_closed_forms():
    x, y = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    # parallel, one above the other, shifted: touch at the middle of the overlap x in [0.5, 1]
    c = geo.capsule_capsule(np.zeros(3), x, 1.0, 0.2, np.array([1.5, 0.0, 0.5]), x, 1.0, 0.1)
    np.testing.assert_allclose(c.dist, [0.2], atol=1e-6)
    np.testing.assert_allclose(c.normal, [UP], atol=1e-6)
    np.testing.assert_allclose(c.point, [[0.75, 0.0, 0.3]], atol=1e-6)  # midway between z=0.2 and z=0.4
    # crossing at right angles, penetrating: normal along x cross y
    c = geo.capsule_capsule(np.zeros(3), x, 1.0, 0.2, np.array([0.3, -0.2, 0.3]), y, 1.0, 0.2)
    np.testing.assert_allclose(c.dist, [-0.1], atol=1e-6)
    np.testing.assert_allclose(c.normal, [UP], atol=1e-6)
    np.testing.assert_allclose(c.point, [[0.3, 0.0, 0.15]], atol=1e-6)


# ---------------------------------------------------------------------------
# plane pairs


def random_planes(rng, n):
    return rng.normal(size=(n, 3)) * 0.3, np.array([random_unit(rng) for _ in range(n)])


def test_sphere_and_capsule_plane_match_sampled_surfaces():
    rng = np.random.default_rng(2)
    n = 16
    pos, nrm = random_planes(rng, n)
    center = pos + nrm * rng.uniform(-0.3, 1.0, size=(n, 1)) + rng.normal(size=(n, 3))
    axis = np.array([random_unit(rng) for _ in range(n)])
    hl, r = rng.uniform(0.2, 1.0, n), rng.uniform(0.1, 0.5, n)
    ball = jax.vmap(geo.sphere_plane)(pos, nrm, center, r)
    caps = jax.vmap(geo.capsule_plane)(pos, nrm, center, axis, hl, r)
    assert ball.dist.shape == (n, 1) and caps.dist.shape == (n, 2) and caps.point.shape == (n, 2, 3)
    sphere_dirs = np.array([random_unit(rng) for _ in range(4000)])
    for i in range(n):
        height = lambda pts: (pts - pos[i]) @ nrm[i]
        assert abs(ball.dist[i, 0] - height(center[i] + r[i] * sphere_dirs).min()) < 2e-3 * r[i]
        minus, plus = capsule_ends(center[i], axis[i], hl[i])
        for k, end in enumerate((plus, minus)):  # the +axis end first
            assert abs(caps.dist[i, k] - height(end + r[i] * sphere_dirs).min()) < 2e-3 * r[i]
        np.testing.assert_allclose(caps.normal[i], [nrm[i], nrm[i]], atol=1e-6)
    # points: A's surface point is on the plane, B's on the sphere
    on_a, on_b = surfaces_of(ball)
    np.testing.assert_allclose(np.einsum("nkd,nd->nk", on_a - pos[:, None], nrm), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(on_b[:, 0] - center, axis=-1), r, atol=1e-5)


def test_box_plane_gives_the_eight_corners_and_the_sampled_minimum():
    rng = np.random.default_rng(3)
    n = 8
    pos, nrm = random_planes(rng, n)
    center = pos + rng.normal(size=(n, 3))
    rot = np.array([random_rotation(rng) for _ in range(n)])
    half = rng.uniform(0.1, 0.8, size=(n, 3))
    c = jax.vmap(geo.box_plane)(pos, nrm, center, rot, half)
    assert c.dist.shape == (n, 8) and c.normal.shape == (n, 8, 3)
    _, corners_found = surfaces_of(c)
    for i in range(n):
        corners = center[i] + (np.array(list(itertools.product((-1, 1), repeat=3))) * half[i]) @ rot[i].T
        np.testing.assert_allclose(corners_found[i], corners, atol=1e-5)
        np.testing.assert_allclose(c.dist[i], (corners - pos[i]) @ nrm[i], atol=1e-5)
        sampled = (box_surface(center[i], rot[i], half[i], n=21) - pos[i]) @ nrm[i]
        assert abs(c.dist[i].min() - sampled.min()) < 1e-5


def test_resting_shapes_on_a_tilted_plane_touch_with_zero_distance():
    n = np.array([0.0, 0.6, 0.8])
    p = np.array([0.5, -0.2, 1.0])
    s = geo.sphere_plane(p, n, p + 0.3 * n + np.array([0.0, 0.8, -0.6]), 0.3)  # offset along the plane
    np.testing.assert_allclose(s.dist, [0.0], atol=1e-6)
    np.testing.assert_allclose(s.point, [p + np.array([0.0, 0.8, -0.6])], atol=1e-6)
    np.testing.assert_allclose(s.normal, [n], atol=1e-6)
    # capsule lying flat, axis along the plane: two equal end contacts at the end spheres' bottoms
    axis = np.array([1.0, 0.0, 0.0])
    c = geo.capsule_plane(p, n, p + 0.25 * n, axis, 0.7, 0.3)
    np.testing.assert_allclose(c.dist, [-0.05, -0.05], atol=1e-6)
    np.testing.assert_allclose(c.point, [p + 0.7 * axis - 0.025 * n, p - 0.7 * axis - 0.025 * n], atol=1e-6)
    # an axis-aligned box at height 1 above z = 0: bottom corners at 1 - h_z, top at 1 + h_z
    b = geo.box_plane(np.zeros(3), UP, np.array([3.0, 1.0, 1.0]), np.eye(3), np.array([0.5, 0.2, 0.4]))
    np.testing.assert_allclose(b.dist, np.tile([0.6, 1.4], 4), atol=1e-6)


# ---------------------------------------------------------------------------
# box pairs


def random_boxes(rng, n):
    return (rng.normal(size=(n, 3)) * 0.3, np.array([random_rotation(rng) for _ in range(n)]),
            rng.uniform(0.2, 1.0, size=(n, 3)))


def test_box_sphere_matches_the_sampled_box_surface_inside_and_outside():
    rng = np.random.default_rng(4)
    n = 30
    center, rot, half = random_boxes(rng, n)
    ball = center + rng.normal(size=(n, 3)) * 0.6
    r = rng.uniform(0.05, 0.4, n)
    c = jax.vmap(geo.box_sphere)(center, rot, half, ball, r)
    assert c.dist.shape == (n, 1)
    unit_rows(c)
    on_a, on_b = surfaces_of(c)
    inside_count = 0
    for i in range(n):
        grid = 101
        surface = box_surface(center[i], rot[i], half[i], n=grid)
        gap, nearest, _ = nearest_pair(surface, ball[i][None])
        local = (ball[i] - center[i]) @ rot[i]
        inside = np.all(np.abs(local) <= half[i])
        inside_count += inside
        signed = -gap if inside else gap
        spacing = np.sqrt(2.0) * half[i].max() / (grid - 1)  # farthest any face point is from the grid
        tol = min(spacing, spacing**2 / max(2 * gap, 1e-12)) + 1e-5
        # sampled surface points are never nearer than the surface: the error is one-sided
        error = (c.dist[i, 0] - (signed - r[i])) * (-1 if inside else 1)
        assert -tol <= error <= 1e-5, (i, inside, error)
        depths = np.sort(half[i] - np.abs(local))
        if (not inside and gap > 0.1) or (inside and depths[1] - depths[0] > 0.05):
            outward = (ball[i] - nearest) / gap * (-1 if inside else 1)
            np.testing.assert_allclose(c.normal[i, 0], outward, atol=2 * spacing / gap + 1e-4)
        assert abs(box_sdf(center[i], rot[i], half[i], on_a[i, 0])) < 1e-5
        assert abs(np.linalg.norm(on_b[i, 0] - ball[i]) - r[i]) < 1e-5
    assert 3 <= inside_count <= 27


def test_box_sphere_with_the_centre_inside_leaves_through_the_nearest_face():
    c = geo.box_sphere(np.zeros(3), np.eye(3), np.array([1.0, 2.0, 3.0]), np.array([0.2, 1.7, -0.5]), 0.1)
    np.testing.assert_allclose(c.dist, [-0.4], atol=1e-6)  # depth 0.3 along y, plus the radius
    np.testing.assert_allclose(c.normal, [[0.0, 1.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(c.point, [[0.2, 1.8, -0.5]], atol=1e-6)


def test_box_capsule_deepest_contact_matches_the_sampled_segment():
    rng = np.random.default_rng(5)
    n = 24
    center, rot, half = random_boxes(rng, n)
    cap = center + rng.normal(size=(n, 3)) * 0.9
    axis = np.array([random_unit(rng) for _ in range(n)])
    hl, r = rng.uniform(0.2, 1.2, n), rng.uniform(0.05, 0.4, n)
    c = jax.jit(jax.vmap(geo.box_capsule))(center, rot, half, cap, axis, hl, r)
    assert c.dist.shape == (n, 2) and c.point.shape == (n, 2, 3)
    unit_rows(c)
    on_a, on_b = surfaces_of(c)
    penetrating = 0
    for i in range(n):
        ends = capsule_ends(cap[i], axis[i], hl[i])
        samples = segment_samples(*ends, n=2001)
        expected = box_sdf(center[i], rot[i], half[i], samples).min() - r[i]
        penetrating += expected < 0
        assert abs(c.dist[i].min() - expected) < 1e-3, (i, c.dist[i], expected)
        for k in range(2):  # A's point is on the box; B's on the ball of radius r at a segment point
            assert abs(box_sdf(center[i], rot[i], half[i], on_a[i, k])) < 1e-4
            assert segment_sdf(*ends, r[i], on_b[i, k]) < 1e-4
        deepest = np.argmin(c.dist[i])
        if c.dist[i, deepest] + r[i] > 1e-3:  # core outside the box: a true pair of surface points
            assert abs(segment_sdf(*ends, r[i], on_b[i, deepest])) < 1e-4
    assert 3 <= penetrating <= 21


def test_box_capsule_lying_on_a_face_across_a_beam_and_overhanging():
    box_capsule = jax.jit(geo.box_capsule)
    x = np.array([1.0, 0.0, 0.0])
    rest = np.array([0.0, 0.0, 0.7])  # core 0.2 above the top face z = 0.5; radius 0.25
    # on a large face: both end spheres
    c = box_capsule(np.zeros(3), np.eye(3), np.array([2.0, 1.0, 0.5]), rest, x, 1.0, 0.25)
    np.testing.assert_allclose(c.dist, [-0.05, -0.05], atol=1e-5)
    np.testing.assert_allclose(c.point, [[1.0, 0.0, 0.475], [-1.0, 0.0, 0.475]], atol=1e-5)
    np.testing.assert_allclose(c.normal, [UP, UP], atol=1e-5)
    # across a narrow beam: at the beam's two edges, not at the (far) ends
    c = box_capsule(np.zeros(3), np.eye(3), np.array([0.1, 1.0, 0.5]), rest, x, 1.0, 0.25)
    np.testing.assert_allclose(c.dist, [-0.05, -0.05], atol=1e-5)
    np.testing.assert_allclose(c.point, [[0.1, 0.0, 0.475], [-0.1, 0.0, 0.475]], atol=1e-5)
    # overhanging the edge x = 0.5: at the box edge and at the inner end
    c = box_capsule(np.zeros(3), np.eye(3), np.array([0.5, 1.0, 0.5]), rest + 0.8 * x, x, 1.0, 0.25)
    np.testing.assert_allclose(c.point, [[0.5, 0.0, 0.475], [-0.2, 0.0, 0.475]], atol=1e-5)
    # standing on its end: the lower end sphere touches, the upper one is far
    c = box_capsule(np.zeros(3), np.eye(3), np.array([2.0, 1.0, 0.5]), np.array([0.3, 0.0, 1.7]),
                    UP, 1.0, 0.25)
    np.testing.assert_allclose(c.dist, [1.95, -0.05], atol=1e-5)


# ---------------------------------------------------------------------------
# degenerate configurations, batching, dtypes, errors


def flat(contact):
    return jnp.concatenate([contact.dist.ravel(), contact.normal.ravel(), contact.point.ravel()])


z3, x3 = np.zeros(3), np.array([1.0, 0.0, 0.0])
DEGENERATE = {
    "coincident spheres": (geo.sphere_sphere, (z3, 0.5, z3, 0.3)),
    "sphere centre on the capsule axis": (geo.sphere_capsule, (x3 * 0.3, 0.2, z3, x3, 1.0, 0.1)),
    "collinear capsules": (geo.capsule_capsule, (z3, x3, 1.0, 0.2, x3 * 0.5, x3, 1.0, 0.2)),
    "parallel capsules": (geo.capsule_capsule, (z3, x3, 1.0, 0.2, np.array([0.5, 0.0, 0.3]), x3, 1.0, 0.2)),
    "crossing capsules": (geo.capsule_capsule, (z3, x3, 1.0, 0.2, z3, np.array([0.0, 1.0, 0.0]), 1.0, 0.2)),
    "zero-length capsules": (geo.capsule_capsule, (z3, x3, 0.0, 0.2, z3, x3, 0.0, 0.2)),
    "zero-length capsule on a plane": (geo.capsule_plane, (z3, UP, z3, x3, 0.0, 0.2)),
    "sphere at the box centre": (geo.box_sphere, (z3, np.eye(3), np.ones(3), z3, 0.3)),
    "sphere on a box corner": (geo.box_sphere, (z3, np.eye(3), np.ones(3), np.ones(3), 0.3)),
    "capsule through the box centre": (geo.box_capsule, (z3, np.eye(3), np.ones(3), z3, x3, 2.0, 0.3)),
    "zero-length capsule at a box face": (geo.box_capsule, (z3, np.eye(3), np.ones(3), x3, UP, 0.0, 0.3)),
}


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_configurations_give_finite_values_and_gradients(name):
    fn, args = DEGENERATE[name]
    args = tuple(jnp.asarray(a, jnp.float32) for a in args)
    def total(*a):
        out = flat(fn(*a))
        return jnp.sum(out), out

    (_, out), grads = jax.jit(jax.value_and_grad(total, argnums=tuple(range(len(args))), has_aux=True))(*args)
    assert np.all(np.isfinite(out))
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_vmap_of_a_batch_equals_single_calls_and_keeps_float32():
    rng = np.random.default_rng(6)
    n = 5
    center, rot, half = (jnp.asarray(a, jnp.float32) for a in random_boxes(rng, n))
    cap = jnp.asarray(rng.normal(size=(n, 3)), jnp.float32)
    axis = jnp.asarray([random_unit(rng) for _ in range(n)], jnp.float32)
    hl, r = jnp.full(n, 0.6, jnp.float32), jnp.full(n, 0.2, jnp.float32)
    batch = jax.jit(jax.vmap(geo.box_capsule))(center, rot, half, cap, axis, hl, r)
    assert batch.dist.dtype == jnp.float32
    single_call = jax.jit(geo.box_capsule)
    for i in range(n):
        single = single_call(center[i], rot[i], half[i], cap[i], axis[i], hl[i], r[i])
        np.testing.assert_allclose(flat(single), flat(jax.tree.map(lambda a: a[i], batch)), atol=1e-5)


def test_bad_shapes_raise_naming_the_function_and_field():
    with pytest.raises(ValueError, match=r"box_sphere: rot must have shape \(3, 3\), got \(3,\)"):
        geo.box_sphere(z3, z3, np.ones(3), z3, 0.1)
    with pytest.raises(ValueError, match=r"capsule_capsule: r2 must have shape \(\), got \(2,\)"):
        geo.capsule_capsule(z3, x3, 1.0, 0.2, z3, x3, 1.0, np.ones(2))
    with pytest.raises(TypeError, match="sphere_plane: radius must be real"):
        geo.sphere_plane(z3, UP, z3, True)


# ---------------------------------------------------------------------------
# gradients against finite differences (float64, smooth configurations)


def tilted_rotation(angle_x, angle_z):
    cx, sx, cz, sz = np.cos(angle_x), np.sin(angle_x), np.cos(angle_z), np.sin(angle_z)
    return np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])


tilt = tilted_rotation(0.3, 0.4)
skew_axis = np.array([0.3, 0.9, 0.2]) / np.linalg.norm([0.3, 0.9, 0.2])
SMOOTH = {
    "sphere_plane": (geo.sphere_plane, (z3, np.array([0.1, 0.2, 0.9]), np.array([0.3, 0.1, 0.4]), 0.5)),
    "capsule_plane": (geo.capsule_plane, (z3, np.array([0.1, 0.2, 0.9]), np.array([0.3, 0.1, 0.4]),
                                          skew_axis, 0.7, 0.2)),
    "box_plane": (geo.box_plane, (z3, np.array([0.1, 0.2, 0.9]), np.array([0.3, 0.1, 0.4]), tilt,
                                  np.array([0.5, 0.3, 0.2]))),
    "sphere_sphere": (geo.sphere_sphere, (z3, 0.4, np.array([0.3, 0.2, 0.5]), 0.3)),
    "sphere_capsule": (geo.sphere_capsule, (np.array([0.3, 0.2, 0.5]), 0.3, z3, skew_axis, 1.0, 0.2)),
    "capsule_capsule": (geo.capsule_capsule, (z3, x3, 1.0, 0.2, np.array([0.2, 0.1, 0.3]), skew_axis, 1.0, 0.1)),
    "box_sphere outside": (geo.box_sphere, (z3, tilt, np.array([0.5, 0.3, 0.2]), np.array([0.7, 0.6, 0.4]), 0.2)),
    "box_sphere inside": (geo.box_sphere, (z3, tilt, np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.05, 0.1]), 0.2)),
    "box_capsule": (geo.box_capsule, (z3, np.eye(3), np.array([2.0, 1.0, 0.5]), np.array([0.1, 0.2, 0.75]),
                                      np.array([0.96, 0.0, 0.28]), 0.8, 0.3)),
}


@pytest.mark.parametrize("name", list(SMOOTH))
def test_gradients_match_finite_differences_in_float64(x64, name):
    fn, args = SMOOTH[name]
    args = tuple(jnp.asarray(a, jnp.float64) for a in args)
    check_grads(jax.jit(lambda *a: flat(fn(*a))), args, order=1, modes=("rev",), atol=1e-5, rtol=1e-5)
