"""gambol.physics: the shared physics core (spaces, partitioning, energies, integrators)."""

from . import energy, minimize, neural, partition, quantity, simulate, smap, space, three_body

__all__ = ["energy", "minimize", "neural", "partition", "quantity", "simulate", "smap", "space", "three_body"]
