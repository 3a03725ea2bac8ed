"""Spatial partitioning: cell lists and neighbour lists.

The pattern is *allocate on the host, update under jit, flag overflow*::

    neighbor_fn = partition.neighbor_list(displacement, box, r_cutoff=2.5, dr_threshold=0.5)
    nbrs = neighbor_fn.allocate(R)               # host: sizes the buffers from R
    def chunk(state, nbrs):                      # jit: fixed shapes
        def body(carry, _):
            state, nbrs = carry
            nbrs = nbrs.update(state.position)  # rebuilds only past the skin
            return (apply_fn(state, neighbor=nbrs), nbrs), None
        return jax.lax.scan(body, (state, nbrs), None, length=100)[0]
    state, nbrs = partition.run_with_reallocation(jax.jit(chunk), state, nbrs, neighbor_fn,
                                                  position_fn=lambda s: s.position)

``update`` never raises: a list that outgrew its static capacity sets bits in
``nbrs.error`` (``nbrs.did_buffer_overflow``), and :func:`run_with_reallocation`
re-allocates from the state *before* the chunk and re-runs it, so no caller ever sees a
silently truncated list.

Formats: ``Dense`` ``idx: [n, max_neighbors]`` (row ``i`` lists the neighbours of ``i``;
padding is ``n``; every pair appears in both rows); ``Sparse`` ``idx: [2, capacity]``
(``(receiver, sender)`` columns, both orders, sorted by receiver); ``OrderedSparse`` the
same with each unordered pair once (``sender < receiver``).  Candidates come from a cell
grid whenever the box holds at least three cutoff-wide cells per side, so a build is O(n);
otherwise all pairs are tested.  The grid's cells are half the list cutoff wide where the
box holds five per side (else a full cutoff); particles sorted by cell make each row of
the search stencil (``2 reach + 1`` cells along x) one contiguous slice of that order, so
candidates are padded per run of cells, not per cell: about half as many to test as with
the ``3^dim`` cutoff-wide cells of a classic cell list.
"""

from __future__ import annotations

import enum
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import space as space_lib

Array = jax.Array


class NeighborListFormat(enum.Enum):
    Dense = "dense"
    Sparse = "sparse"
    OrderedSparse = "ordered_sparse"


Dense = NeighborListFormat.Dense
Sparse = NeighborListFormat.Sparse
OrderedSparse = NeighborListFormat.OrderedSparse


class PartitionError(enum.IntFlag):
    """Bits of ``error``: which buffer overflowed or what went wrong inside jit."""

    NONE = 0
    NEIGHBOR_LIST_OVERFLOW = 1
    CELL_LIST_OVERFLOW = 2
    NON_FINITE_POSITION = 4


def _error_names(code: int) -> list[str]:
    return [e.name for e in PartitionError if e and (code & e)]


# ---------------------------------------------------------------------------
# cell list


@struct.dataclass
class CellList:
    """Particles binned into a grid of cells, each with a fixed number of slots.

    ``id_buffer: [num_cells, capacity]`` holds particle ids (``n`` for an empty slot);
    ``cell_of: [n]`` is each particle's flat cell index; ``error`` flags overflow.
    """

    id_buffer: Array
    cell_of: Array
    error: Array
    cells_per_side: tuple = struct.field(pytree_node=False)
    capacity: int = struct.field(pytree_node=False)

    @property
    def did_buffer_overflow(self) -> Array:
        return (self.error & PartitionError.CELL_LIST_OVERFLOW) != 0


def _cells_per_side(extent: np.ndarray, cell_size: float) -> tuple:
    return tuple(int(max(1, np.floor(e / cell_size))) for e in extent)


def _cell_coords(R: Array, extent: Array, cells_per_side: tuple) -> Array:
    """Integer cell coordinates ``[n, dim]`` of positions in ``[0, extent)``."""
    cps = jnp.asarray(cells_per_side, dtype=R.dtype)
    c = jnp.floor(R / extent * cps).astype(jnp.int32)
    return jnp.mod(c, jnp.asarray(cells_per_side, dtype=jnp.int32))


def _flat_cell(c: Array, cells_per_side: tuple) -> Array:
    strides = np.cumprod((1,) + cells_per_side[:-1]).astype(np.int32)
    return jnp.sum(c * jnp.asarray(strides), axis=-1)


def _cell_capacity(R: Array, extent: Array, cells_per_side: tuple, multiplier: float, extra: int) -> int:
    """Host: slots per cell = the fullest cell's count times ``multiplier``, plus ``extra``."""
    cell = np.asarray(_flat_cell(_cell_coords(R, extent, cells_per_side), cells_per_side))
    max_occupancy = int(np.bincount(cell, minlength=int(np.prod(cells_per_side))).max())
    return max(1, int(max_occupancy * multiplier) + extra)


def _bin_particles(R: Array, extent: Array, cells_per_side: tuple, capacity: int) -> CellList:
    """Sort particles by cell and scatter their ids into ``[num_cells, capacity]`` slots."""
    n = R.shape[0]
    num_cells = int(np.prod(cells_per_side))
    cell = _flat_cell(_cell_coords(R, extent, cells_per_side), cells_per_side)
    order = jnp.argsort(cell, stable=True)
    sorted_cell = cell[order]
    first = jnp.searchsorted(sorted_cell, sorted_cell, side="left")
    rank = jnp.arange(n, dtype=jnp.int32) - first.astype(jnp.int32)
    slot = jnp.where(rank < capacity, sorted_cell * capacity + rank, num_cells * capacity)
    ids = jnp.full((num_cells * capacity,), n, dtype=jnp.int32)
    ids = ids.at[slot].set(order.astype(jnp.int32), mode="drop")
    overflow = jnp.any(rank >= capacity)
    error = jnp.where(overflow, PartitionError.CELL_LIST_OVERFLOW, 0).astype(jnp.uint8)
    return CellList(ids.reshape(num_cells, capacity), cell, error, cells_per_side, capacity)


def cell_list(box, minimum_cell_size: float, capacity_multiplier: float = 1.25,
              extra_capacity: int = 0):
    """Cell list in a 2-D or 3-D orthorhombic box ``[0, box)``.

    Returns ``(allocate, update)``: ``allocate(R)`` (host) sizes each cell's slots from the
    fullest cell times ``capacity_multiplier``; ``update(R, cells)`` (jit-safe) re-bins with
    the same capacity and sets ``CELL_LIST_OVERFLOW`` if a cell has too many particles.
    """
    extent = np.broadcast_to(np.asarray(box, dtype=np.float64), (np.size(box),))
    if np.any(extent <= 0):
        raise ValueError(f"box: side lengths must be positive, got {extent.tolist()}")
    if minimum_cell_size <= 0:
        raise ValueError(f"minimum_cell_size: must be positive, got {minimum_cell_size}")

    def _shape(R):
        if R.ndim != 2 or R.shape[1] not in (2, 3):
            raise ValueError(f"R: cell lists need positions of shape [n, 2] or [n, 3], got {R.shape}")
        ext = np.broadcast_to(extent, (R.shape[1],)) if extent.size == 1 else extent
        if ext.size != R.shape[1]:
            raise ValueError(f"box: has dimension {ext.size} but positions have dimension {R.shape[1]}")
        return ext, _cells_per_side(ext, minimum_cell_size)

    def allocate(R: Array) -> CellList:
        ext, cps = _shape(R)
        ext = jnp.asarray(ext, R.dtype)
        capacity = _cell_capacity(jnp.asarray(R), ext, cps, capacity_multiplier, extra_capacity)
        return _bin_particles(R, ext, cps, capacity)

    def update(R: Array, cells: CellList) -> CellList:
        ext, _ = _shape(R)
        return _bin_particles(R, jnp.asarray(ext, R.dtype), cells.cells_per_side, cells.capacity)

    return allocate, update


# ---------------------------------------------------------------------------
# neighbour list


@struct.dataclass
class NeighborList:
    """A neighbour list: indices plus what is needed to update it under jit.

    ``idx``: ``[n, max_neighbors]`` (Dense) or ``[2, capacity]`` (Sparse formats), padded
    with ``n``.  ``reference_position: [n, dim]`` positions at the last build.
    ``error``: uint8 :class:`PartitionError` bits.  ``rebuilds``: number of rebuilds since
    allocation (int32).  Static: ``format``, capacities (``cell_capacity``: candidate slots
    per run of stencil cells, 0 without a cell grid), and the update closure.
    """

    idx: Array
    reference_position: Array
    error: Array
    rebuilds: Array
    format: NeighborListFormat = struct.field(pytree_node=False)
    max_neighbors: int = struct.field(pytree_node=False)
    cell_capacity: int = struct.field(pytree_node=False)
    update_fn: Callable = struct.field(pytree_node=False)

    def update(self, R: Array, **kwargs) -> "NeighborList":
        """Rebuild if some particle moved more than ``dr_threshold / 2``; jit-safe.
        ``batch_axis_name``: see ``neighbor_list``'s ``update``."""
        return self.update_fn(R, self, **kwargs)

    @property
    def did_buffer_overflow(self) -> Array:
        return (self.error & (PartitionError.NEIGHBOR_LIST_OVERFLOW | PartitionError.CELL_LIST_OVERFLOW)) != 0

    @property
    def capacity(self) -> int:
        return self.idx.shape[-1]

    def error_names(self) -> list[str]:
        """Host-side: the names of the error bits that are set."""
        return _error_names(int(self.error))


@struct.dataclass
class NeighborListFns:
    """``allocate(R, extra_capacity=0)`` on the host; ``update(R, nbrs)`` under jit.

    ``rebuild(R, nbrs)`` (jit-safe) builds a fresh list for new positions with the
    capacities of ``nbrs`` (errors and the rebuild count start again from zero); envs
    use it to start episodes inside ``jit`` from a list allocated once on the host.
    """

    allocate: Callable = struct.field(pytree_node=False)
    update: Callable = struct.field(pytree_node=False)
    rebuild: Callable | None = struct.field(pytree_node=False, default=None)

    def __iter__(self):  # allow ``allocate, update = neighbor_list(...)``
        return iter((self.allocate, self.update))


def _first_true_columns(mask: Array, width: int):
    """Column indices of the first ``width`` True entries in each row of ``mask: [n, C]``.

    Returns ``cols: [n, width]`` (int32, ascending), ``filled: [n, width]`` (slot ``s``
    holds an entry) and ``count: [n]`` (True entries per row).  Each row is packed into
    ``ceil(C / 32)`` 32-bit words; the ``(s+1)``-th True lies in the first word whose
    running popcount exceeds ``s``, at the bit found by a 5-step binary search on
    popcounts.  No running count over the ``C`` columns and no scatter: both are slow on
    XLA:CPU (5x on a 10,000 x 1,000 candidate mask)."""
    n, C = mask.shape
    num_words = -(-C // 32)
    bits = jnp.pad(mask, ((0, 0), (0, 32 * num_words - C))).reshape(n, num_words, 32).astype(jnp.uint32)
    words = jnp.sum(bits << jnp.arange(32, dtype=jnp.uint32), axis=-1, dtype=jnp.uint32)  # [n, words]
    per_word = jax.lax.population_count(words).astype(jnp.int32)
    through = jnp.cumsum(per_word, axis=1)                                # Trues in words 0..w
    slot = jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32), (n, width))
    if num_words <= 64:   # w = number of words with through <= slot: count them all (vectorises)
        w = jnp.sum(through[:, None, :] <= slot[..., None], axis=-1, dtype=jnp.int32)
    else:                 # or by binary search on the non-decreasing running count
        w = jnp.zeros_like(slot)
        step = 1 << (num_words.bit_length() - 1)
        while step:
            ahead = w + step
            probe = jnp.take_along_axis(through, jnp.minimum(ahead, num_words) - 1, axis=1)
            w = jnp.where((ahead <= num_words) & (probe <= slot), ahead, w)
            step >>= 1
    filled = w < num_words
    w = jnp.minimum(w, num_words - 1)
    word = jnp.take_along_axis(words, w, axis=1)
    rank = slot - jnp.take_along_axis(through - per_word, w, axis=1)      # wanted True within the word
    bit = jnp.zeros_like(rank)
    for step in (16, 8, 4, 2, 1):   # largest bit with popcount(word below it) <= rank
        below = word & ((jnp.uint32(1) << (bit + step).astype(jnp.uint32)) - 1)
        bit = jnp.where(jax.lax.population_count(below).astype(jnp.int32) <= rank, bit + step, bit)
    cols = jnp.minimum(32 * w + bit, C - 1)
    return cols, filled, through[:, -1]


def neighbor_list_mask(nbrs: NeighborList) -> Array:
    """Boolean mask of real (non-padding) entries of ``nbrs.idx``."""
    n = nbrs.reference_position.shape[0]
    if nbrs.format is Dense:
        return nbrs.idx < n
    return nbrs.idx[0] < n


def _perpendicular_widths(box: np.ndarray, dim: int) -> np.ndarray:
    if box.ndim == 2:
        inv = np.linalg.inv(box)
        return 1.0 / np.linalg.norm(inv, axis=1)
    return np.broadcast_to(box, (dim,)).astype(np.float64)


def _probe_periodic(displacement_fn, extent: np.ndarray, dim: int, fractional: bool) -> bool:
    """True if the displacement wraps (periodic space); probed on one far pair."""
    a = np.zeros(dim, np.float32)
    b = (np.full(dim, 0.75, np.float32) if fractional else 0.75 * extent.astype(np.float32))
    try:
        d = np.asarray(displacement_fn(jnp.asarray(a), jnp.asarray(b)))
    except Exception:  # a displacement that needs call-time arguments: assume periodic
        return True
    direct = a - b
    if d.ndim == 0:
        return bool(abs(float(d)) < np.linalg.norm(direct) * 0.999)
    if fractional:
        return True  # fractional coordinates only make sense for periodic_general
    return bool(np.max(np.abs(d - direct)) > 1e-3 * np.max(extent))


def _binned(R: Array, extent: Array, periodic: bool) -> Array:
    """Positions used for binning: a free space clamps strays into the edge cells (clamping
    is a contraction, so pairs within the cutoff stay in adjacent cells)."""
    return R if periodic else jnp.clip(R, 0, extent * (1 - 1e-6))


def neighbor_list(displacement_or_metric: Callable, box, r_cutoff: float, dr_threshold: float = 0.0,
                  capacity_multiplier: float = 1.25, format: NeighborListFormat = Dense,
                  mask_self: bool = True, disable_cell_list: bool = False,
                  fractional_coordinates: bool = False, custom_mask_function: Callable | None = None,
                  ) -> NeighborListFns:
    """Neighbour list of all pairs closer than ``r_cutoff + dr_threshold``.

    Args:
      displacement_or_metric: a space's displacement (or a metric) for one pair.
      box: the box the particles live in (scalar, ``[dim]`` or ``[dim, dim]``); for a free
        space, the extent of the region holding the particles (for the cell grid).
      r_cutoff: interaction cutoff; the list cutoff is ``r_cutoff + dr_threshold``.
      dr_threshold: the skin. ``update`` rebuilds only when some particle moved more than
        ``dr_threshold / 2`` since the last build (``0`` rebuilds every call).
      capacity_multiplier: head-room over the largest count seen at allocation.
      format: ``Dense``, ``Sparse`` or ``OrderedSparse``.
      mask_self: drop ``i == j``.
      disable_cell_list: always test all pairs (O(n^2)).
      fractional_coordinates: positions are in the unit cube (``periodic_general``).
      custom_mask_function: ``fn(idx) -> idx`` applied to the Dense index array after
        each build (set entries to ``n`` to drop them), e.g. to exclude bonded pairs.

    Raises ``ValueError`` (naming the argument) for a non-positive box or cutoff, a
    negative skin, an unknown format, or a list cutoff over half a periodic box.
    """
    if not isinstance(format, NeighborListFormat):
        raise ValueError(f"format: expected one of {[f.name for f in NeighborListFormat]}, got {format!r}")
    if not np.isscalar(r_cutoff) and np.ndim(r_cutoff) != 0:
        raise ValueError(f"r_cutoff: expected a scalar, got shape {np.shape(r_cutoff)}")
    r_cutoff = float(r_cutoff)
    dr_threshold = float(dr_threshold)
    if not r_cutoff > 0:
        raise ValueError(f"r_cutoff: must be positive, got {r_cutoff}")
    if dr_threshold < 0:
        raise ValueError(f"dr_threshold: must be non-negative, got {dr_threshold}")
    if capacity_multiplier < 1:
        raise ValueError(f"capacity_multiplier: must be >= 1, got {capacity_multiplier}")
    space_lib._check_box("box", box, allow_matrix=True)
    box_np = np.asarray(box, dtype=np.float64)
    cutoff = r_cutoff + dr_threshold
    metric = space_lib.canonicalize_displacement_or_metric(displacement_or_metric)

    @functools.lru_cache(maxsize=None)
    def geometry(dim: int):
        if box_np.ndim == 2 and box_np.shape[0] != dim:
            raise ValueError(f"box: matrix is {box_np.shape} but positions have dimension {dim}")
        if box_np.ndim == 1 and box_np.shape[0] != dim:
            raise ValueError(f"box: has dimension {box_np.shape[0]} but positions have dimension {dim}")
        widths = _perpendicular_widths(box_np, dim)
        periodic = _probe_periodic(displacement_or_metric, widths, dim, fractional_coordinates)
        if periodic and cutoff > 0.5 * widths.min() + 1e-9:
            raise ValueError(
                f"r_cutoff: the list cutoff r_cutoff + dr_threshold = {cutoff:g} exceeds half the periodic "
                f"box width ({0.5 * widths.min():g}); minimum-image displacements would miss images. "
                f"Use a larger box or a smaller cutoff.")
        # cells half the list cutoff wide searched 2 cells out (a 5-cell stencil) test fewer
        # candidates than cutoff-wide cells searched 1 out; either stencil must not wrap onto itself
        reach = 2 if min(_cells_per_side(widths, cutoff / 2)) >= 5 else 1
        cps = _cells_per_side(widths, cutoff / reach)
        use_cells = (not disable_cell_list) and dim in (2, 3) and min(cps) >= 2 * reach + 1
        if box_np.ndim == 2 and not fractional_coordinates:
            use_cells = False  # real coordinates in a triclinic box: bin by all pairs
        # fractional positions bin in the unit cube; real ones in [0, widths)
        extent = np.ones(dim) if fractional_coordinates else widths
        return periodic, use_cells, cps, extent, reach

    def _runs(R: Array):
        """Each particle's stencil as runs of consecutive cells along x.

        Particles sorted by flat cell index (x fastest) make the cells ``x - reach ..
        x + reach`` of one (y, z) row a contiguous slice of the sorted order, or two
        slices where the row wraps around a periodic box.  Returns ``order: [n]`` (ids
        sorted by cell) and, per particle and run, the two slices' starts and lengths,
        ``[n, runs]`` each (a run outside a free box has length 0)."""
        n, dim = R.shape
        periodic, _, cps, extent, reach = geometry(dim)
        ext = jnp.asarray(extent, R.dtype)
        coords = _cell_coords(_binned(R, ext, periodic), ext, cps)           # [n, dim]
        cell = _flat_cell(coords, cps)
        order = jnp.argsort(cell, stable=True).astype(jnp.int32)
        num_cells = int(np.prod(cps))
        first = jnp.searchsorted(cell[order], jnp.arange(num_cells + 1, dtype=cell.dtype),
                                 side="left").astype(jnp.int32)          # [cells + 1]
        span = np.arange(-reach, reach + 1)
        offsets = np.stack(np.meshgrid(*[span] * (dim - 1), indexing="ij"), -1).reshape(-1, dim - 1)
        rows = coords[:, None, 1:] + jnp.asarray(offsets, jnp.int32)        # [n, runs, dim - 1]
        row_cps = jnp.asarray(cps[1:], jnp.int32)
        strides = np.cumprod((1,) + cps[:-1])[1:].astype(np.int32)
        inside = jnp.all((rows >= 0) & (rows < row_cps), axis=-1)
        rows = jnp.mod(rows, row_cps) if periodic else jnp.clip(rows, 0, row_cps - 1)
        base = jnp.sum(rows * jnp.asarray(strides), axis=-1)                # flat index of (0, y, z)
        nx = cps[0]
        lo, hi = coords[:, :1] - reach, coords[:, :1] + reach                 # [n, 1]
        if periodic:       # at most one wrap: cps >= 2 reach + 1
            a_lo, a_hi = jnp.where(lo < 0, lo + nx, lo), jnp.where((lo < 0) | (hi >= nx), nx - 1, hi)
            b_hi = jnp.where(lo < 0, hi, jnp.where(hi >= nx, hi - nx, -1))
        else:
            a_lo, a_hi, b_hi = jnp.maximum(lo, 0), jnp.minimum(hi, nx - 1), jnp.full_like(lo, -1)
        a_start = first[base + a_lo]
        a_len = first[base + a_hi + 1] - a_start
        b_start = first[base]
        b_len = jnp.where(b_hi >= 0, first[base + jnp.maximum(b_hi, 0) + 1] - b_start, 0)
        if not periodic:
            a_len = jnp.where(inside, a_len, 0)
        return order, a_start, a_len, b_start, b_len

    def _candidates(R: Array, run_capacity: int):
        """Every particle's candidates: ids ``cand: [n, C]``, ``valid: [n, C]`` (the slot
        holds a candidate) and the overflow bits.  Without a cell grid every particle is a
        candidate (``C = n``)."""
        n, dim = R.shape
        _, use_cells, _, _, _ = geometry(dim)
        if not use_cells:
            return jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (n, n)), jnp.ones((n, n), bool), jnp.uint8(0)
        order, a_start, a_len, b_start, b_len = _runs(R)
        slot = jnp.arange(run_capacity, dtype=jnp.int32)                      # [P]
        a_len, b_len = a_len[..., None], b_len[..., None]
        pos = jnp.where(slot < a_len, a_start[..., None] + slot, b_start[..., None] + slot - a_len)
        valid = slot < a_len + b_len                                          # [n, runs, P]
        cand = order[jnp.where(valid, pos, 0)].reshape(n, -1)
        overflow = jnp.any(a_len + b_len > run_capacity)
        return cand, valid.reshape(n, -1), jnp.where(overflow, PartitionError.CELL_LIST_OVERFLOW, 0).astype(jnp.uint8)

    def _run_capacity(R: Array, multiplier: float, extra: int) -> int:
        """Host: slots per run = the fullest run's count times ``multiplier``, plus ``extra``."""
        _, _, a_len, _, b_len = _runs_jit(R)
        return max(1, int(int(jnp.max(a_len + b_len)) * multiplier) + extra)

    _runs_jit = jax.jit(_runs)

    def _metric_by_component(kwargs: dict):
        """The metric on per-coordinate arrays (see gambol.physics.space), if it has one
        and no call-time space arguments are given; else ``None``."""
        return None if kwargs else space_lib.by_component(metric)

    def _candidate_mask(R: Array, cand: Array, valid: Array, **kwargs) -> Array:
        """``[n, C]``: the valid candidates within the list cutoff."""
        by_component = _metric_by_component(kwargs)
        if by_component is None:
            d = space_lib.map_neighbor(lambda a, b: metric(a, b, **kwargs))(R, R[cand])
        else:
            d = by_component([R[:, c, None] for c in range(R.shape[1])], space_lib.gather_components(R, cand))
        mask = valid & (d < cutoff)
        if mask_self:
            mask = mask & (cand != jnp.arange(R.shape[0], dtype=jnp.int32)[:, None])
        return mask

    def _count_fn(R: Array, cell_capacity: int, **kwargs):
        cand, valid, err = _candidates(R, cell_capacity)
        return jnp.sum(_candidate_mask(R, cand, valid, **kwargs), axis=1), err

    def _build(R: Array, max_neighbors: int, cell_capacity: int, capacity: int, **kwargs):
        n = R.shape[0]
        cand, valid, cell_err = _candidates(R, cell_capacity)
        mask = _candidate_mask(R, cand, valid, **kwargs)
        if format is OrderedSparse:
            mask = mask & (cand < jnp.arange(n, dtype=jnp.int32)[:, None])
        cols, filled, count = _first_true_columns(mask, max_neighbors)
        dense = jnp.where(filled, jnp.take_along_axis(cand, cols, axis=1), n)
        overflow = jnp.any(count > max_neighbors)
        if custom_mask_function is not None:
            dense = custom_mask_function(dense)
        if format is Dense:
            idx = dense
        else:
            valid = (dense < n).reshape(-1)
            pos = jnp.cumsum(valid) - 1
            pos = jnp.where(valid & (pos < capacity), pos, capacity)
            receivers = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], dense.shape).reshape(-1)
            idx = jnp.full((2, capacity), n, jnp.int32)
            idx = idx.at[0, pos].set(receivers, mode="drop").at[1, pos].set(dense.reshape(-1), mode="drop")
            overflow = overflow | (jnp.sum(valid) > capacity)
        err = jnp.where(overflow, PartitionError.NEIGHBOR_LIST_OVERFLOW, 0).astype(jnp.uint8) | cell_err
        err = err | jnp.where(jnp.all(jnp.isfinite(R)), 0, PartitionError.NON_FINITE_POSITION).astype(jnp.uint8)
        return idx, err

    def _check_R(R):
        if not hasattr(R, "ndim") or R.ndim != 2:
            raise ValueError(f"R: expected positions of shape [n, dim], got {getattr(R, 'shape', type(R))}")
        if not jnp.issubdtype(R.dtype, jnp.floating):
            raise TypeError(f"R: expected a floating dtype, got {R.dtype}")
        geometry(R.shape[1])

    def update(R: Array, nbrs: NeighborList, batch_axis_name: str | None = None, **kwargs) -> NeighborList:
        """Rebuild when some particle moved more than ``dr_threshold / 2``. Inside a
        ``vmap(..., axis_name=batch_axis_name)`` the whole batch rebuilds together when any
        member needs it, so the test stays a real branch instead of a select that would
        rebuild every member on every call."""
        _check_R(R)
        if R.shape != nbrs.reference_position.shape:
            raise ValueError(f"R: shape {R.shape} differs from the allocated shape "
                             f"{nbrs.reference_position.shape}; call allocate again")
        capacity = nbrs.idx.shape[1]

        def rebuild(_):
            idx, err = _build(R, nbrs.max_neighbors, nbrs.cell_capacity, capacity, **kwargs)
            return NeighborList(idx, R, nbrs.error | err, nbrs.rebuilds + 1, nbrs.format,
                                nbrs.max_neighbors, nbrs.cell_capacity, nbrs.update_fn)

        if dr_threshold <= 0:
            return rebuild(None)
        by_component = _metric_by_component(kwargs)
        if by_component is None:
            moved = jax.vmap(lambda a, b: metric(a, b, **kwargs))(R, nbrs.reference_position)
        else:
            moved = by_component(list(R.T), list(nbrs.reference_position.T))
        needs = jnp.any(moved > 0.5 * dr_threshold) | ~jnp.all(jnp.isfinite(moved))
        if batch_axis_name is not None:
            needs = jax.lax.psum(needs.astype(jnp.int32), batch_axis_name) > 0
        return jax.lax.cond(needs, rebuild, lambda _: nbrs, None)

    _count_jit = jax.jit(_count_fn, static_argnums=1)
    _build_jit = jax.jit(_build, static_argnums=(1, 2, 3))

    def allocate(R: Array, extra_capacity: int = 0, **kwargs) -> NeighborList:
        """Host: build a list sized from ``R`` (times ``capacity_multiplier``, plus extra)."""
        R = jnp.asarray(R)
        _check_R(R)
        n, dim = R.shape
        _, use_cells, _, _, _ = geometry(dim)
        cell_capacity = _run_capacity(R, capacity_multiplier, extra_capacity) if use_cells else 0
        counts, _ = _count_jit(R, cell_capacity, **kwargs)
        counts = np.asarray(counts)
        max_count = int(counts.max(initial=0))  # OrderedSparse: row widths before the j < i cut
        total = int(counts.sum()) // (2 if format is OrderedSparse else 1)
        max_neighbors = min(n - 1 if mask_self else n, int(max_count * capacity_multiplier) + extra_capacity)
        max_neighbors = max(max_neighbors, 1)
        capacity = max(1, int(total * capacity_multiplier) + n * extra_capacity)
        width = max_neighbors if format is Dense else capacity
        idx, err = _build_jit(R, max_neighbors, cell_capacity, width, **kwargs)
        return NeighborList(idx, R, err, jnp.int32(0), format, max_neighbors, cell_capacity, update)

    def rebuild(R: Array, nbrs: NeighborList, **kwargs) -> NeighborList:
        _check_R(R)
        idx, err = _build(R, nbrs.max_neighbors, nbrs.cell_capacity, nbrs.idx.shape[1], **kwargs)
        return NeighborList(idx, R, err, jnp.zeros((), jnp.int32), nbrs.format, nbrs.max_neighbors,
                            nbrs.cell_capacity, nbrs.update_fn)

    return NeighborListFns(allocate, update, rebuild)


def to_dense(nbrs: NeighborList) -> Array:
    """Dense ``[n, m]`` indices (padding ``n``) from any format; both orders of each pair."""
    n = nbrs.reference_position.shape[0]
    if nbrs.format is Dense:
        return nbrs.idx
    recv, send = nbrs.idx
    if nbrs.format is OrderedSparse:
        recv, send = jnp.concatenate([recv, send]), jnp.concatenate([send, recv])
    valid = (recv < n) & (send < n)
    order = jnp.lexsort((send, jnp.where(valid, recv, n)))
    recv, send, valid = recv[order], send[order], valid[order]
    first = jnp.searchsorted(recv, recv, side="left")
    rank = jnp.arange(recv.shape[0]) - first
    width = int(max(1, np.asarray(jnp.bincount(jnp.where(valid, recv, n), length=n + 1)[:n]).max(initial=1)))
    out = jnp.full((n, width), n, jnp.int32)
    return out.at[jnp.where(valid, recv, n), rank].set(send, mode="drop")


def pair_set(nbrs: NeighborList) -> set[tuple[int, int]]:
    """Host: the set of ordered pairs ``(i, j)`` in the list (both orders)."""
    n = nbrs.reference_position.shape[0]
    idx = np.asarray(nbrs.idx)
    out = set()
    if nbrs.format is Dense:
        for i, row in enumerate(idx):
            out.update((i, int(j)) for j in row if j < n)
    else:
        for i, j in idx.T:
            if i < n and j < n:
                out.add((int(i), int(j)))
                if nbrs.format is OrderedSparse:
                    out.add((int(j), int(i)))
    return out


def run_with_reallocation(chunk_fn: Callable, carry: Any, nbrs: NeighborList, neighbor_fn: NeighborListFns,
                          position_fn: Callable[[Any], Array] = lambda c: c, max_retries: int = 8):
    """Run ``chunk_fn(carry, nbrs) -> (carry, nbrs)``; on overflow, re-allocate from the
    pre-chunk positions with more room and re-run the chunk.  Never returns a result
    computed with a truncated list: raises ``RuntimeError`` after ``max_retries``.

    ``position_fn(carry)`` extracts positions ``[n, dim]`` from the carry.
    """
    extra = 0
    for attempt in range(max_retries + 1):
        new_carry, new_nbrs = chunk_fn(carry, nbrs)
        code = int(new_nbrs.error)
        if not (code & (PartitionError.NEIGHBOR_LIST_OVERFLOW | PartitionError.CELL_LIST_OVERFLOW)):
            return new_carry, new_nbrs
        extra = max(2 * extra, 4)  # more head-room on every retry
        nbrs = neighbor_fn.allocate(position_fn(carry), extra_capacity=extra)
    raise RuntimeError(f"neighbour list still overflowing after {max_retries} reallocations "
                       f"({_error_names(code)}); the system may be collapsing or exploding")
