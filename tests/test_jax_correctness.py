"""Guards against jax/jaxlib releases that silently miscompile patterns gambol relies on.

jax-ml/jax#39103 ("[CPU] jax.jit returns wrong results for vmapped matrix-vector product
followed by reduction"): on CPU, jax/jaxlib 0.10.2 returns a wrong value for the last row of
``jax.jit(jax.vmap(lambda row: jnp.sum((matrix @ row) ** 2)))`` once the batch is one past a
power of two; eager mode and jax 0.10.1 are right. This is the per-particle / per-body
mat-vec-then-reduce shape that the physics code uses everywhere, hence
``jax!=0.10.2`` in pyproject.toml and jax 0.10.1 in requirements.lock.

The program below is the issue's reproducer. Rows are ``(i, 0, 0)`` and the matrix is the
identity, so row ``i`` must give ``i**2`` (rounded once to the dtype), which numpy computes
exactly. Measured on this project's CPU with jax 0.10.2, the last row came back as
float64, n = 16,385: 266,342,400 instead of 268,435,456 (= 16,384**2);
float32, n = 32,769: 1,065,369,600 instead of 1,073,741,824 (= 32,768**2).
(The issue itself reports 267,911,424 and 1,071,645,696 on its machine: the wrong value
depends on the CPU, the fact that it is wrong does not.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def _vmapped_matvec_then_sum(x, matrix):
    return jax.vmap(lambda row: jnp.sum((matrix @ row) ** 2))(x)


@pytest.mark.parametrize(
    "dtype, n",
    [("float64", 16_385), ("float32", 32_769), ("float64", 16_384), ("float32", 32_768)],
)
def test_jit_vmapped_matvec_reduction_matches_eager_and_numpy(request, dtype, n):
    """jax#39103: jit of vmap(row -> sum((M @ row)**2)) must equal eager and numpy exactly."""
    if dtype == "float64":
        request.getfixturevalue("x64")
    np_dtype = np.dtype(dtype)
    i = jnp.arange(n, dtype=np_dtype)
    x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
    matrix = jnp.eye(3, dtype=np_dtype)
    assert x.dtype == np_dtype  # float64 really is on

    expected = np.arange(n, dtype=np_dtype) ** 2  # one rounding, same as i * i in XLA
    eager = np.asarray(_vmapped_matvec_then_sum(x, matrix))
    jitted = np.asarray(jax.jit(_vmapped_matvec_then_sum)(x, matrix))

    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_array_equal(
        jitted, expected,
        err_msg=f"jax {jax.__version__}: jit miscompiles vmapped mat-vec + sum "
                f"({dtype}, n={n}); see jax-ml/jax#39103 (jax/jaxlib 0.10.2)",
    )
