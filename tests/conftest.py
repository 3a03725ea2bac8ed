"""Shared test settings: float64 is enabled per test module where gradients are checked."""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
