"""training/policy_gradients.py: the per-member gradient against finite differences
on ant (H = 1, float64, through contacts), the summary statistics, and the rows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.training import policy_gradients as pg


@pytest.mark.usefixtures("x64")
def test_one_step_gradient_on_ant_matches_central_finite_differences():
    members = 8
    env, state, weights = pg.probe("ant", members, episode_length=40, dtype="float64", seed=3,
                                   warmup_steps=30)
    assert weights.dtype == jnp.float64 and weights.shape == (members, 87, 8)
    returns = jax.jit(pg.window_returns(env, horizon=1))
    grads = jax.jit(jax.grad(lambda w: jnp.sum(returns(w, state))))(weights)   # [B, obs, act]
    # a random direction per member; R_b depends on W_b alone
    direction = jax.random.normal(jax.random.PRNGKey(4), weights.shape, jnp.float64)
    direction = direction / jnp.linalg.norm(direction.reshape(members, -1), axis=1)[:, None, None]
    eps = 1e-6
    finite_difference = (returns(weights + eps * direction, state)
                         - returns(weights - eps * direction, state)) / (2 * eps)
    analytic = jnp.sum(grads * direction, axis=(1, 2))
    assert bool(jnp.all(jnp.abs(analytic) > 1e-6)), analytic      # not a vacuous zero
    np.testing.assert_allclose(analytic, finite_difference, rtol=1e-5, atol=1e-8)


def test_gradient_stats_are_over_finite_members():
    grads = np.array([[[1.0, 0.0]], [[3.0, 0.0]], [[np.nan, 0.0]], [[2.0, np.inf]]])  # [4, 1, 2]
    stats = pg.gradient_stats(grads)
    assert stats["nonfinite_fraction"] == 0.5
    assert stats["norm"] == pytest.approx(2.0)                 # |mean(1, 3)|
    assert stats["variance"] == pytest.approx(1.0)             # mean of (1-2)^2, (3-2)^2
    assert stats["member_norm_median"] == pytest.approx(2.0)
    assert np.isnan(pg.gradient_stats(np.full((2, 3), np.nan))["norm"])


def test_rows_per_horizon_and_dtype():
    for dtype in ("float32", "float64"):
        rows = pg.policy_gradient_stats("pendulum", batch_size=4, horizons=(1, 8), dtype=dtype,
                                        warmup_steps=5)
        assert [r["horizon"] for r in rows] == [1, 8]
        for row in rows:
            assert row["dtype"] == dtype and row["env"] == "pendulum"
            assert row["nonfinite_fraction"] == 0 and row["done_fraction"] == 0
            assert np.isfinite(row["norm"]) and row["norm"] > 0 and row["variance"] > 0
    with pytest.raises(ValueError, match="dtype: expected float32 or float64"):
        pg.policy_gradient_stats("pendulum", dtype="float16")
