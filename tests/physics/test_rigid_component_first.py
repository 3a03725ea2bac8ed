"""The engine's component-first algebra (`rigid/component_first.py`) against the public
`[..., 3]` helpers of `rigid/math.py`, on random batches with two trailing axes."""

import jax
import numpy as np
import pytest

from gambol.physics.rigid import math as M
from gambol.physics.rigid import component_first

T = (5, 7)


def _cf(x):
    """[*T, k] -> [k, *T]"""
    return np.moveaxis(np.asarray(x), -1, 0)


@pytest.fixture(scope="module")
def data():
    k = jax.random.split(jax.random.PRNGKey(3), 4)
    a, b = (np.asarray(jax.random.normal(x, T + (3,))) for x in k[:2])
    q = np.asarray(M.normalize(jax.random.normal(k[2], T + (4,))))
    p = np.asarray(M.normalize(jax.random.normal(k[3], T + (4,))))
    return a, b, q, p


@pytest.mark.parametrize("name, args", [
    ("cross", "ab"), ("dot", "ab"), ("quat_mul", "qp"), ("rotate", "aq"), ("inv_rotate", "aq"),
    ("quat_to_euler", "q"), ("normalize", "a")])
def test_component_first_matches_last_axis_helpers(data, name, args):
    a, b, q, p = data
    pick = dict(a=a, b=b, q=q, p=p)
    want = getattr(M, name)(*(pick[c] for c in args))
    got = getattr(component_first, name)(*(_cf(pick[c]) for c in args))
    want = np.asarray(want) if want.ndim == len(T) else _cf(want)
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_matrices_and_products(data):
    a, _, q, _ = data
    m = component_first.quat_to_matrix(_cf(q))                       # [3, 3, *T]
    np.testing.assert_allclose(np.moveaxis(m, (0, 1), (-2, -1)), M.quat_to_matrix(q), atol=1e-6)
    np.testing.assert_allclose(component_first.matvec(m, _cf(a)), _cf(M.rotate(a, q)), atol=2e-6)
    np.testing.assert_allclose(component_first.tmatvec(m, _cf(a)), _cf(M.inv_rotate(a, q)), atol=2e-6)


def test_integrate_rotation_keeps_unit_length(data):
    a, _, q, _ = data
    got = component_first.integrate_rotation(_cf(q), _cf(a), 0.01)
    np.testing.assert_allclose(got, _cf(M.integrate_rotation(q, a, 0.01)), atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=0), 1.0, atol=1e-6)


def test_float32_atan2_matches_float64_arctan2_and_its_derivative():
    rng = np.random.default_rng(0)
    n = 200_000
    y = (rng.standard_normal(n) * 10.0 ** rng.integers(-4, 5, n)).astype(np.float32)
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-4, 5, n)).astype(np.float32)
    axes = np.array([[0, 1], [1, 0], [0, -1], [-1, 0], [1, 1], [-1, 1], [1, -1], [-1, -1], [0, 0]], np.float32)
    y, x = np.concatenate([y, axes[:, 0]]), np.concatenate([x, axes[:, 1]])
    got = np.asarray(jax.jit(component_first.atan2)(y, x))
    assert got.dtype == np.float32
    want = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    assert np.max(np.abs(got - want)) < 4e-7                            # ~1 float32 ulp at pi
    # d atan2 / dy = x / r^2, d atan2 / dx = -y / r^2 (relative to 1 / r)
    gy, gx = jax.jit(jax.vmap(jax.grad(component_first.atan2, argnums=(0, 1))))(y[:2000], x[:2000])
    r2 = y[:2000].astype(np.float64) ** 2 + x[:2000].astype(np.float64) ** 2
    np.testing.assert_allclose(np.asarray(gy) * np.sqrt(r2), x[:2000] / np.sqrt(r2), atol=1e-5)
    np.testing.assert_allclose(np.asarray(gx) * np.sqrt(r2), -y[:2000] / np.sqrt(r2), atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_euler_angles_recover_the_angles_a_rotation_was_built_from(dtype, x64):
    rng = np.random.default_rng(1)
    angles = rng.uniform([-179, -89, -179], [179, 89, 179], (1000, 3))       # degrees, x-y'-z''
    q = np.asarray(jax.vmap(M.euler_to_quat)(angles.astype(dtype)))
    got = np.asarray(component_first.quat_to_euler(_cf(q.astype(dtype))))
    assert got.dtype == dtype
    np.testing.assert_allclose(got.T, np.radians(angles), atol=5e-5 if dtype == np.float32 else 1e-10)
