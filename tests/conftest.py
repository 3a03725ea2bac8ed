"""Shared test settings: float64 is enabled per test module where gradients are checked."""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax
import pytest


@pytest.fixture
def x64():
    """float64 for the duration of one test (jax.enable_x64, or its older
    home in jax.experimental)."""
    if hasattr(jax, "enable_x64"):
        ctx = jax.enable_x64()
    else:
        from jax.experimental import enable_x64
        ctx = enable_x64()
    with ctx:
        yield


@pytest.fixture(scope="module")
def x64_module():
    """float64 for every test of one module (and nothing after it)."""
    if hasattr(jax, "enable_x64"):
        ctx = jax.enable_x64()
    else:
        from jax.experimental import enable_x64
        ctx = enable_x64()
    with ctx:
        yield
