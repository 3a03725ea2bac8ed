"""Shared test settings: float64 is enabled per test module where gradients are checked."""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax
import pytest


def _float64():
    """jax.enable_x64's context (in jax.experimental before jax 0.5)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64()
    from jax.experimental import enable_x64
    return enable_x64()


@pytest.fixture
def x64():
    """float64 for the duration of one test."""
    with _float64():
        yield


@pytest.fixture(scope="module")
def x64_module():
    """float64 for every test of one module (and nothing after it)."""
    with _float64():
        yield
