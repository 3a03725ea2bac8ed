"""gambol.physics: the shared physics core (spaces, partitioning, energies, integrators)."""

from . import energy, minimize, partition, quantity, simulate, smap, space

__all__ = ["energy", "minimize", "partition", "quantity", "simulate", "smap", "space"]
