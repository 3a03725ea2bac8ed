"""gambol.physics: the shared physics core (spaces, partitioning, energies, integrators)."""

from . import energy, minimize, partition, quantity, simulate, smap, space, three_body

__all__ = ["energy", "minimize", "partition", "quantity", "simulate", "smap", "space", "three_body"]
