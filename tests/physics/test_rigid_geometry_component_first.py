"""The batched geometry cores (component-first, batch-minor: vectors [3, P, B]) against the
single-pair functions vmapped twice over the same pairs in [P, B, 3], on random and degenerate
pairs; broadcasting of shared [P, 1] arguments; finite gradients through the cores."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics.rigid import geometry, geometry_component_first

P, B = 3, 4

# One letter per argument: v point, u direction, s positive scalar, h halfsize, r rotation.
SIGNATURES = {
    "sphere_plane": "vuvs",
    "capsule_plane": "vuvuss",
    "box_plane": "vuvrh",
    "sphere_sphere": "vsvs",
    "sphere_capsule": "vsvuss",
    "capsule_capsule": "vussvuss",
    "box_sphere": "vrhvs",
    "box_capsule": "vrhvuss",
}

K = {"capsule_plane": 2, "box_plane": 8, "box_capsule": 2}

# Arguments shared along the env axis B in the broadcasting test (passed as [P, 1] / [3, P, 1]).
SHARED = {
    "sphere_plane": (0, 1, 3),
    "capsule_plane": (0, 1, 4, 5),
    "box_plane": (0, 1, 4),
    "sphere_sphere": (1, 3),
    "sphere_capsule": (1, 4, 5),
    "capsule_capsule": (2, 3, 6, 7),
    "box_sphere": (2, 4),
    "box_capsule": (2, 5, 6),
}

O, X, Y, Z = (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
I3 = np.eye(3)


def _turn(angle, axis):
    c, s = np.cos(angle), np.sin(angle)
    i, j = [k for k in range(3) if k != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


# Degenerate pairs placed first in the batch: touching, penetrating, coincident, parallel, inside.
DEGENERATE = {
    "sphere_plane": [
        (O, Z, (1.0, 2.0, 0.5), 0.5),  # touching
        (O, (0.0, 0.0, 2.0), (0.0, 0.0, 0.2), 0.5),  # penetrating, normal not unit
        (O, O, (0.0, 0.0, 1.0), 0.5),  # zero normal: falls back to +z
    ],
    "capsule_plane": [
        (O, Z, (0.0, 0.0, 0.3), X, 0.5, 0.3),  # lying flat, touching
        (O, Z, (0.0, 0.0, 0.5), Z, 0.6, 0.3),  # standing, lower end penetrating
        (O, Z, (0.0, 0.0, 0.1), Y, 0.0, 0.3),  # zero-length segment
    ],
    "box_plane": [
        (O, Z, (0.0, 0.0, 0.5), I3, (1.0, 0.7, 0.5)),  # resting on a face: four corners touch
        (O, Z, (0.2, 0.0, 0.3), _turn(0.4, 0), (0.5, 0.5, 0.5)),  # tilted, penetrating
    ],
    "sphere_sphere": [
        (O, 0.5, O, 0.3),  # coincident centres
        (O, 0.5, X, 0.5),  # touching
        (O, 0.5, (0.3, 0.2, 0.0), 0.4),  # penetrating
    ],
    "sphere_capsule": [
        ((0.0, 0.0, 0.2), 0.3, O, Z, 0.5, 0.2),  # sphere centred on the segment
        (X, 0.5, O, Z, 0.5, 0.5),  # touching the side
        ((0.0, 0.0, 1.5), 0.5, O, Z, 0.5, 0.5),  # touching the end cap
    ],
    "capsule_capsule": [
        (O, X, 1.0, 0.3, (0.5, 0.0, 0.5), X, 1.0, 0.2),  # parallel, overlapping, touching
        (O, X, 1.0, 0.3, O, Y, 1.0, 0.2),  # crossing segments
        (O, X, 1.0, 0.3, O, X, 1.0, 0.2),  # identical segments
        (O, X, 0.0, 0.3, (0.0, 0.4, 0.0), Y, 0.0, 0.2),  # zero-length segments
        (O, X, 1.0, 0.3, (0.3, 0.0, 0.4), (-1.0, 0.0, 0.0), 0.5, 0.2),  # antiparallel, penetrating
    ],
    "box_sphere": [
        (O, I3, (1.0, 1.0, 1.0), O, 0.5),  # centre at the box centre (tied faces)
        (O, _turn(0.3, 2), (1.0, 0.6, 0.4), (0.2, 0.1, -0.1), 0.3),  # centre inside
        (O, I3, (1.0, 1.0, 1.0), (0.0, 0.0, 1.5), 0.5),  # touching a face
        (O, I3, (1.0, 1.0, 1.0), (1.5, 1.5, 1.5), 0.5),  # near a corner, apart
    ],
    "box_capsule": [
        (O, I3, (1.0, 1.0, 0.5), (0.0, 0.0, 0.7), X, 0.5, 0.2),  # lying on the top face, touching
        (O, I3, (1.0, 1.0, 0.5), O, Z, 2.0, 0.2),  # through the box
        (O, I3, (0.2, 1.0, 0.5), (0.0, 0.0, 0.6), X, 1.0, 0.15),  # across a narrow box
        (O, I3, (1.0, 1.0, 0.5), (1.0, 0.0, 0.65), X, 0.6, 0.2),  # overhanging an edge
        (O, I3, (1.0, 1.0, 0.5), (0.1, 0.2, 0.0), Y, 0.3, 0.2),  # inside, parallel to a face
        (O, _turn(0.7, 1), (0.5, 0.5, 0.5), (0.0, 0.0, 1.0), X, 0.5, 0.2),  # crossing an edge
    ],
}


def rotations(rng, n):
    """[n, 3, 3] random proper rotations (QR of a Gaussian matrix, det +1)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    return q * np.linalg.det(q)[:, None, None]


def pairs(kind, seed=0):
    """Random pairs of ``kind`` in the public layout: vectors [P, B, 3], rot [P, B, 3, 3], scalars [P, B]."""
    rng = np.random.default_rng(seed)
    n = P * B
    draw = {
        "v": lambda: rng.normal(size=(n, 3)),
        "u": lambda: rng.normal(size=(n, 3)),
        "s": lambda: rng.uniform(0.1, 1.0, n),
        "h": lambda: rng.uniform(0.2, 1.0, (n, 3)),
        "r": lambda: rotations(rng, n),
    }
    args = [draw[c]() for c in SIGNATURES[kind]]
    for a, c in zip(args, SIGNATURES[kind]):
        if c == "u":
            a /= np.linalg.norm(a, axis=-1, keepdims=True)
    for i, case in enumerate(DEGENERATE[kind]):
        for a, value in zip(args, case):
            a[i] = value
    return [jnp.asarray(a.reshape((P, B) + a.shape[1:]), jnp.float32) for a in args]


def to_core(x):
    """[P, B, *c] -> [*c, P, B]: the component axes first."""
    return jnp.moveaxis(x, tuple(range(2)), tuple(range(x.ndim - 2, x.ndim)))


@pytest.fixture(scope="module", params=list(SIGNATURES))
def computed(request):
    """Everything a kind's tests compare, from one compiled function."""
    kind = request.param
    core, public = getattr(geometry_component_first, kind), getattr(geometry, kind)
    args = pairs(kind)
    shared = SHARED[kind]

    @jax.jit
    def run(args):
        core_args = [to_core(a) for a in args]
        if kind.endswith("_plane"):     # the cores take a unit plane normal; the public functions scale it
            core_args[1] = geometry_component_first.unit_normal(core_args[1])
        narrow = [a[..., :1] if i in shared else a for i, a in enumerate(core_args)]
        wide = [jnp.broadcast_to(a, a.shape[:-1] + (B,)) for a in narrow]
        grads = jax.grad(lambda xs: jnp.sum(core(*xs)[0]))(core_args)
        return core(*core_args), jax.vmap(jax.vmap(public))(*args), core(*narrow), core(*wide), grads

    return kind, jax.tree.map(np.asarray, run(args))


def test_core_equals_the_public_function_vmapped_over_pairs_and_envs(computed):
    # Exact agreement also where box_capsule's deepest point lies on a crease of two box faces
    # (a random pair through the box): the face is then picked by rounding, and both sides
    # run the same elementwise arithmetic.
    kind, ((dist, normal, point), ref, _, _, _) = computed
    k = K.get(kind, 1)
    assert dist.shape == (k, P, B) and normal.shape == point.shape == (3, k, P, B)
    assert ref.dist.shape == (P, B, k) and ref.normal.shape == (P, B, k, 3)
    np.testing.assert_allclose(dist, np.moveaxis(ref.dist, -1, 0), atol=1e-5)
    np.testing.assert_allclose(normal, np.moveaxis(ref.normal, (2, 3), (1, 0)), atol=1e-5)
    np.testing.assert_allclose(point, np.moveaxis(ref.point, (2, 3), (1, 0)), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(normal, axis=0), 1.0, atol=1e-5)


def test_arguments_shared_along_envs_broadcast_from_size_one(computed):
    _, (_, _, narrow, wide, _) = computed
    for got, expected in zip(narrow, wide):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_gradient_of_total_distance_through_the_core_is_finite(computed):
    _, (_, _, _, _, grads) = computed
    for g in grads:
        assert np.all(np.isfinite(g))
    assert any(np.any(g != 0) for g in grads)
