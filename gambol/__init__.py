"""gambol: batched, differentiable flocking and rigid-body environments in JAX."""

__version__ = "0.1.0"
