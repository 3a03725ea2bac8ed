"""Lift a pair function to a system: all pairs, a neighbour list, or explicit bonds.

A pair function ``fn(dr, **params) -> energy`` is written for one pair; ``dr`` is a
distance when the lifter is given a metric and a displacement vector ``[dim]`` when it is
given a displacement.  The lifters handle the bookkeeping once:

* parameters: a scalar; a ``[n]`` per-particle array (combined pairwise, by default the
  arithmetic mean, or by ``combinators={"name": fn(p_i, p_j)}``); a ``[n, n]`` per-pair
  matrix; or, with ``species: [n]`` ints, an ``[S, S]`` table indexed by the species of
  the two particles;
* padding of neighbour lists is masked, self pairs are excluded, and the double counting
  of a symmetric list is halved;
* ``per_particle=True`` returns ``[n]`` energies (half of each pair to each end).

Call-time keyword arguments override the build-time parameters (so they can be traced,
vmapped and differentiated); keywords that are not parameters of ``fn`` go to the space
(e.g. ``box=`` for ``periodic_general``).

Dense neighbour lists are symmetric (each pair in both rows), so the force on ``i`` is
the sum over its own row: the custom JVP of :func:`_symmetric_row_sum` uses that and
needs no scatter-add, while derivatives of every order (Hessians, derivatives with
respect to parameters and the box) stay exact.  In a space with a per-coordinate form
(:func:`gambol.physics.space.by_component`: free, periodic) the Dense path gathers the
neighbours' ``x, y, z`` into separate ``[n, m]`` arrays, which XLA:CPU vectorises.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from . import partition, space

Array = jax.Array


# ---------------------------------------------------------------------------
# parameters


def _mean(a, b):
    return 0.5 * (a + b)


def _fn_param_names(fn: Callable) -> set[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return set()
    return {n for n, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {next(iter(sig.parameters), None)}


def _check_species(species, n: int | None = None, name: str = "species") -> None:
    if species is None:
        return
    s = species
    if not hasattr(s, "shape"):
        s = np.asarray(s)
    if len(s.shape) != 1:
        raise ValueError(f"{name}: expected an int array of shape [n], got shape {tuple(s.shape)}")
    if not jnp.issubdtype(s.dtype, jnp.integer):
        raise TypeError(f"{name}: expected an integer dtype, got {s.dtype}")
    if n is not None and s.shape[0] != n:
        raise ValueError(f"{name}: has {s.shape[0]} entries but there are {n} particles")


def _check_params(params: dict, n: int, species, num_species: int | None) -> None:
    """Trace-time shape checks of every parameter against ``n`` particles / ``S`` species."""
    for k, p in params.items():
        shape = tuple(jnp.shape(p))
        if len(shape) == 0:
            continue
        if species is not None and len(shape) == 2:
            if shape[0] != shape[1]:
                raise ValueError(f"{k}: a per-species table must be square [S, S], got {shape}")
            if num_species is not None and shape[0] < num_species:
                raise ValueError(f"{k}: table is {shape} but species go up to {num_species - 1} "
                                 f"(need at least [{num_species}, {num_species}])")
            continue
        if len(shape) == 1 and shape[0] == n:
            continue
        if len(shape) == 2 and shape == (n, n):
            continue
        expected = f"a scalar, [{n}] per particle, [{n}, {n}] per pair"
        if species is not None:
            expected += ", or [S, S] per species pair"
        raise ValueError(f"{k}: expected {expected}; got shape {shape}")


def _param_at(p, i: Array, j: Array, species, combinator: Callable) -> Array:
    """Value of parameter ``p`` for the pairs ``(i, j)`` (broadcastable index arrays)."""
    p = jnp.asarray(p)
    if p.ndim == 0:
        return p
    if species is not None and p.ndim == 2:
        return p[species[i], species[j]]
    if p.ndim == 1:
        return combinator(p[i], p[j])
    return p[i, j]


def _split_kwargs(kwargs: dict, param_names: set[str]):
    params = {k: v for k, v in kwargs.items() if k in param_names}
    space_kwargs = {k: v for k, v in kwargs.items() if k not in param_names}
    return params, space_kwargs


def _num_species(species, num_species):
    if num_species is not None:
        return num_species
    if species is not None:
        try:
            return int(np.max(np.asarray(species))) + 1
        except jax.errors.TracerArrayConversionError:
            return None
    return None


class _Lifted:
    """Shared set-up of the three lifters: parameters, combinators, species."""

    def __init__(self, fn, displacement_or_metric, species, num_species, combinators, params):
        if not callable(fn):
            raise TypeError(f"fn: expected a pair function, got {type(fn).__name__}")
        _check_species(species)
        self.fn = fn
        self.d = displacement_or_metric
        self.species = None if species is None else jnp.asarray(species)
        self.num_species = _num_species(species, num_species)
        self.combinators = dict(combinators or {})
        self.params = params
        self.param_names = set(params) | _fn_param_names(fn) | {"species"}

    def resolve(self, n: int, kwargs: dict):
        dyn, space_kwargs = _split_kwargs(kwargs, self.param_names)
        species = dyn.pop("species", self.species)
        _check_species(species, n)
        num_species = self.num_species if species is self.species else _num_species(species, None)
        params = {**self.params, **dyn}
        _check_params(params, n, species, num_species)
        return params, species, space_kwargs

    def pair_values(self, params, species, i, j) -> dict:
        return {k: _param_at(p, i, j, species, self.combinators.get(k, _mean)) for k, p in params.items()}

    def displacement(self, space_kwargs):
        return lambda a, b: self.d(a, b, **space_kwargs)


def _check_R(R, name="R") -> None:
    if not hasattr(R, "ndim") or R.ndim != 2:
        raise ValueError(f"{name}: expected positions of shape [n, dim], got {getattr(R, 'shape', type(R))}")


# ---------------------------------------------------------------------------
# all pairs


def pair(fn: Callable, displacement_or_metric: Callable, species=None, num_species: int | None = None,
         per_particle: bool = False, combinators: dict | None = None, **params) -> Callable:
    """All-pairs system energy ``E(R: [n, dim], **kwargs) = ½ Σ_{i≠j} fn(d(R_i, R_j))``."""
    lift = _Lifted(fn, displacement_or_metric, species, num_species, combinators, params)

    def energy(R: Array, **kwargs) -> Array:
        _check_R(R)
        n = R.shape[0]
        params, species, space_kwargs = lift.resolve(n, kwargs)
        dr = space.map_pair(lift.displacement(space_kwargs))(R, R)
        i, j = jnp.arange(n)[:, None], jnp.arange(n)[None, :]
        e = fn(dr, **lift.pair_values(params, species, i, j))
        e = jnp.where(i == j, 0.0, e)
        if per_particle:
            return 0.5 * jnp.sum(e, axis=1)
        return 0.5 * jnp.sum(e)

    return energy


# ---------------------------------------------------------------------------
# neighbour lists


def _zeros_like_tangent(x):
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.zeros_like(x)
    return np.zeros(x.shape, dtype=jax.dtypes.float0)


def _is_zero(t) -> bool:
    return isinstance(t, SymbolicZero)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _symmetric_row_sum(row_energy: Callable, R: Array, Rn: Array, dyn: Any) -> Array:
    """``½ Σ_i Σ_m e[i, m]`` for ``e = row_energy(R, Rn, dyn): [n, m]`` over a symmetric
    dense list, where ``Rn = R[idx]`` is passed in already gathered."""
    return 0.5 * jnp.sum(row_energy(R, Rn, dyn))


@_symmetric_row_sum.defjvp
def _symmetric_row_sum_jvp(row_energy, primals, tangents):
    # On a symmetric list, ∂E/∂R_k = Σ_m ∂e[k, m]/∂R_k: the own-row gradient already holds
    # both halves of every pair, so the tangent through the gathered neighbours is dropped
    # and the transpose needs no scatter.  Rn must equal R[idx] (guaranteed by the caller).
    R, Rn, dyn = primals
    dR, _, ddyn = tangents
    value = 0.5 * jnp.sum(row_energy(R, Rn, dyn))
    tangent = jnp.zeros_like(value)
    leaves = jax.tree_util.tree_leaves(ddyn, is_leaf=_is_zero)
    if not all(_is_zero(t) for t in leaves):
        ddyn = jax.tree_util.tree_map(lambda t, p: _zeros_like_tangent(p) if _is_zero(t) else t,
                                      ddyn, dyn, is_leaf=_is_zero)
        tangent = tangent + jax.jvp(lambda d: 0.5 * jnp.sum(row_energy(R, Rn, d)), (dyn,), (ddyn,))[1]
    if not _is_zero(dR):
        g = jax.grad(lambda Ra: jnp.sum(row_energy(Ra, Rn, dyn)))(R)
        tangent = tangent + jnp.sum(g * dR)
    return value, tangent


_symmetric_row_sum.defjvp(_symmetric_row_sum_jvp, symbolic_zeros=True)


def pair_neighbor_list(fn: Callable, displacement_or_metric: Callable, species=None,
                       num_species: int | None = None, per_particle: bool = False,
                       combinators: dict | None = None, **params) -> Callable:
    """Neighbour-list system energy ``E(R, neighbor, **kwargs)``: the all-pairs sum
    restricted to the pairs in ``neighbor`` (any format), padding masked."""
    lift = _Lifted(fn, displacement_or_metric, species, num_species, combinators, params)

    def energy(R: Array, neighbor: partition.NeighborList, **kwargs) -> Array:
        _check_R(R)
        if not isinstance(neighbor, partition.NeighborList):
            raise TypeError(f"neighbor: expected a NeighborList, got {type(neighbor).__name__}")
        n = R.shape[0]
        if neighbor.reference_position.shape[0] != n:
            raise ValueError(f"neighbor: built for {neighbor.reference_position.shape[0]} particles "
                             f"but R has {n}")
        params, species, space_kwargs = lift.resolve(n, kwargs)
        fmt = neighbor.format

        if fmt is partition.Dense:
            i = jnp.arange(n)[:, None]
            # coordinates in separate [n, m] arrays when the space allows (space docstring)
            by_component = None if space_kwargs else space.by_component(lift.d)

            def row_energy(Ra, Rn, dyn):
                p, sp, skw, idx = dyn
                mask = idx < n
                if by_component is None:
                    dr = space.map_neighbor(lambda a, b: lift.d(a, b, **skw))(Ra, Rn)
                else:
                    dr = by_component([Ra[:, c, None] for c in range(Ra.shape[1])], Rn)
                    dr = dr if isinstance(dr, jax.Array) else jnp.stack(dr, axis=-1)
                e = fn(dr, **lift.pair_values(p, sp, i, jnp.where(mask, idx, 0)))
                return jnp.where(mask, e, 0.0)

            idx = neighbor.idx
            safe_idx = jnp.where(idx < n, idx, 0)
            Rn = R[safe_idx] if by_component is None else space.gather_components(R, safe_idx)
            dyn = (params, species, space_kwargs, idx)
            if per_particle:
                return 0.5 * jnp.sum(row_energy(R, Rn, dyn), axis=1)
            return _symmetric_row_sum(row_energy, R, Rn, dyn)

        recv, send = neighbor.idx
        mask = (recv < n) & (send < n)
        ri, sj = jnp.where(mask, recv, 0), jnp.where(mask, send, 0)
        dr = space.map_bond(lift.displacement(space_kwargs))(R[ri], R[sj])
        e = jnp.where(mask, fn(dr, **lift.pair_values(params, species, ri, sj)), 0.0)
        scale = 1.0 if fmt is partition.OrderedSparse else 0.5
        if per_particle:
            out = jax.ops.segment_sum(0.5 * e, ri, n) if fmt is partition.Sparse else (
                jax.ops.segment_sum(0.5 * e, ri, n) + jax.ops.segment_sum(0.5 * e, sj, n))
            return out
        return scale * jnp.sum(e)

    return energy


# ---------------------------------------------------------------------------
# bonds


def bond(fn: Callable, displacement_or_metric: Callable, bonds=None, bond_types=None,
         per_particle: bool = False, **params) -> Callable:
    """Bonded energy ``E(R, bonds=None, bond_types=None, **kwargs) = Σ_k fn(d(R_a, R_b))``.

    ``bonds: [b, 2]`` int pairs (each bond once); parameters are scalars, ``[b]`` per bond,
    or, with ``bond_types: [b]``, ``[T]`` per type.  Both may be given at call time.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a pair function, got {type(fn).__name__}")
    names = set(params) | _fn_param_names(fn)

    def _check_bonds(b):
        if b is None:
            raise ValueError("bonds: expected an int array of shape [b, 2], got None")
        if len(jnp.shape(b)) != 2 or jnp.shape(b)[1] != 2:
            raise ValueError(f"bonds: expected shape [b, 2], got {tuple(jnp.shape(b))}")
        if not jnp.issubdtype(jnp.asarray(b).dtype, jnp.integer):
            raise TypeError(f"bonds: expected an integer dtype, got {jnp.asarray(b).dtype}")

    if bonds is not None:
        _check_bonds(bonds)

    def energy(R: Array, bonds=bonds, bond_types=bond_types, **kwargs) -> Array:
        _check_R(R)
        _check_bonds(bonds)
        bonds = jnp.asarray(bonds)
        nb = bonds.shape[0]
        dyn, space_kwargs = _split_kwargs(kwargs, names)
        p_all = {**params, **dyn}
        vals = {}
        for k, p in p_all.items():
            p = jnp.asarray(p)
            if p.ndim == 0:
                vals[k] = p
            elif bond_types is not None:
                vals[k] = p[jnp.asarray(bond_types)]
            elif p.shape == (nb,):
                vals[k] = p
            else:
                raise ValueError(f"{k}: expected a scalar or [{nb}] per bond (or per type with "
                                 f"bond_types), got shape {p.shape}")
        if bond_types is not None and jnp.shape(bond_types) != (nb,):
            raise ValueError(f"bond_types: expected shape [{nb}], got {tuple(jnp.shape(bond_types))}")
        dr = space.map_bond(lambda a, b: displacement_or_metric(a, b, **space_kwargs))(
            R[bonds[:, 0]], R[bonds[:, 1]])
        e = fn(dr, **vals)
        if per_particle:
            n = R.shape[0]
            return jax.ops.segment_sum(0.5 * e, bonds[:, 0], n) + jax.ops.segment_sum(0.5 * e, bonds[:, 1], n)
        return jnp.sum(e)

    return energy
