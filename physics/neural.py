"""Neural-network energies (JAX MD paper sections 3.2.4 and 4.1): a Behler-Parrinello
network on radial and angular symmetry functions, and a graph network over neighbourhoods.

Each builder returns ``init_fn(key, R, neighbor=None, species=None, **kwargs) -> params``
and ``energy_fn(params, R, neighbor=None, species=None, **kwargs) -> E`` (``kwargs`` go to
the space, e.g. ``box=`` for ``periodic_general``); the ``*_neighbor_list`` builders also
return a Dense ``neighbor_fn`` whose cutoff is checked against the model's at trace time.
``functools.partial(energy_fn, params)`` is an ordinary energy: ``quantity.force``,
``simulate.*`` and ``minimize.*`` take it unchanged, ``jax.vmap`` maps it over a batch.

Both energies are sums of per-particle energies of a particle's neighbourhood within
``r_cutoff``, each switched off smoothly by ``f_c(r) = ½ (cos(π r / r_c) + 1)`` (so forces
stay continuous when a neighbour crosses the cutoff), and depend on distances and angles
only: translation, rotation, reflection and permutation invariant by construction.

Species: ``species: [n]`` ints in ``[0, num_species)`` at build or call time (a call-time
value wins); out-of-range ids raise where ``species`` is concrete.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from . import partition, three_body

Array = jax.Array


# ---------------------------------------------------------------------------
# shared pieces


def cosine_cutoff(r: Array, r_cutoff) -> Array:
    """Behler's ``f_c(r) = ½ (cos(π r / r_c) + 1)`` for ``r < r_c``, else 0 (C¹)."""
    return jnp.where(r < r_cutoff, 0.5 * (jnp.cos(jnp.pi * jnp.minimum(r, r_cutoff) / r_cutoff) + 1.0), 0.0)


class MLP(nn.Module):
    """Dense layers with softplus between them (smooth, so forces and their derivatives are)."""

    sizes: Sequence[int]

    @nn.compact
    def __call__(self, x):
        for k, size in enumerate(self.sizes):
            x = nn.Dense(size, name=f"dense_{k}")(x)
            if k < len(self.sizes) - 1:
                x = nn.softplus(x)
        return x


def _species(species, default, n: int, num_species: int) -> Array:
    """``[n]`` int species (zeros when none is given); range-checked where concrete."""
    s = default if species is None else species
    if s is None:
        return jnp.zeros(n, jnp.int32)
    if not hasattr(s, "shape"):
        s = np.asarray(s)
    if len(s.shape) != 1 or s.shape[0] != n:
        raise ValueError(f"species: expected an int array of shape [{n}], got shape {tuple(s.shape)}")
    if not jnp.issubdtype(s.dtype, jnp.integer):
        raise TypeError(f"species: expected an integer dtype, got {s.dtype}")
    try:
        v = np.asarray(s)
    except jax.errors.TracerArrayConversionError:
        return jnp.asarray(s)
    if v.size and (v.min() < 0 or v.max() >= num_species):
        raise ValueError(f"species: ids must lie in [0, {num_species}) (num_species={num_species}), "
                         f"got ids from {v.min()} to {v.max()}")
    return jnp.asarray(s)


def _check_species_arg(species, num_species: int) -> None:
    if isinstance(num_species, bool) or not isinstance(num_species, (int, np.integer)) or num_species < 1:
        raise ValueError(f"num_species: expected a positive int, got {num_species!r}")
    if species is not None:
        if np.ndim(species) != 1:
            raise ValueError(f"species: expected an int array of shape [n], got shape {np.shape(species)}")
        _species(species, None, int(np.shape(species)[0]), num_species)


class _Inputs:
    """Validation and neighbourhoods shared by both energies."""

    def __init__(self, displacement_fn, r_cutoff, species, num_species, dim=None):
        if not callable(displacement_fn):
            raise TypeError(f"displacement_fn: expected a space's displacement, got {type(displacement_fn).__name__}")
        if not np.ndim(r_cutoff) == 0 or not float(r_cutoff) > 0:
            raise ValueError(f"r_cutoff: expected a positive scalar, got {r_cutoff!r}")
        _check_species_arg(species, num_species)
        self.d, self.r_cutoff, self.species, self.num_species = displacement_fn, float(r_cutoff), species, num_species
        self.neighbor_fn = None

    def __call__(self, R, neighbor, species, space_kwargs):
        three_body.check_positions(R)
        n = R.shape[0]
        if neighbor is None and self.neighbor_fn is not None:
            raise ValueError("neighbor: this energy was built with a neighbour list; pass neighbor=nbrs "
                             "(from neighbor_fn.allocate(R))")
        if neighbor is not None:
            three_body.check_neighbor(neighbor, n, self.r_cutoff)
        s = _species(species, self.species, n, self.num_species)
        dR, mask, nbr = three_body.neighborhood(self.d, R, neighbor, **space_kwargs)
        return dR, mask, nbr, s


def _neighbor_list_form(builder: Callable) -> Callable:
    """``builder_neighbor_list(displacement_fn, box, r_cutoff, dr_threshold=0.5,
    capacity_multiplier=1.25, fractional_coordinates=False, **builder_kwargs)``."""

    def build(displacement_fn: Callable, box, r_cutoff: float, dr_threshold: float = 0.5,
              capacity_multiplier: float = 1.25, fractional_coordinates: bool = False, **kwargs):
        init_fn, energy_fn = builder(displacement_fn, r_cutoff, **kwargs)
        neighbor_fn = three_body.neighbor_list(displacement_fn, box, r_cutoff, dr_threshold,
                                               capacity_multiplier=capacity_multiplier,
                                               fractional_coordinates=fractional_coordinates)
        energy_fn.inputs.neighbor_fn = neighbor_fn
        return neighbor_fn, init_fn, energy_fn

    build.__name__ = f"{builder.__name__}_neighbor_list"
    build.__doc__ = (f"``(neighbor_fn, init_fn, energy_fn)``: :func:`{builder.__name__}` over a Dense "
                     f"neighbour list of cutoff ``r_cutoff + dr_threshold``.")
    return build


# ---------------------------------------------------------------------------
# Behler-Parrinello (Behler & Parrinello, PRL 98, 146401 (2007); Behler, JCP 134, 074106 (2011))


def radial_symmetry_functions(dR, mask, nbr_species, num_species, r_cutoff, etas, centers) -> Array:
    """G2 (Behler 2011 eq. 6): ``G_i = Σ_j exp(-η (r_ij - R_s)²) f_c(r_ij)`` per neighbour
    species; ``[n, num_species * len(etas)]``."""
    r = three_body.distance(dR)
    g = jnp.exp(-etas * (r[..., None] - centers) ** 2) * cosine_cutoff(r, r_cutoff)[..., None]   # [n, m, G]
    onehot = jax.nn.one_hot(nbr_species, num_species) * mask[..., None]                        # [n, m, S]
    return jnp.einsum("nmg,nms->nsg", g, onehot).reshape(dR.shape[0], -1)


def angular_symmetry_functions(dR, mask, nbr_species, num_species, r_cutoff, etas, zetas, lambdas) -> Array:
    """G4 (Behler 2011 eq. 8): ``2^{1-ζ} Σ_{j<k} (1 + λ cos θ_jik)^ζ exp(-η (r_ij² + r_ik² +
    r_jk²)) f_c(r_ij) f_c(r_ik) f_c(r_jk)`` per (ordered) neighbour-species pair;
    ``[n, num_species² * len(etas)]``."""
    r = three_body.distance(dR)                                                  # [n, m]
    fc = cosine_cutoff(r, r_cutoff) * mask
    cos = jnp.einsum("nmd,nkd->nmk", dR, dR) / (r[..., :, None] * r[..., None, :])
    djk = dR[:, :, None, :] - dR[:, None, :, :]                                  # R_k - R_j
    m = dR.shape[1]
    # real, distinct (j, k) only: padding entries share one far-away vector, so r_jk = 0 there
    pair = ~jnp.eye(m, dtype=bool) & mask[:, :, None] & mask[:, None, :]
    r2jk = jnp.where(pair, jnp.sum(djk * djk, -1), 1.0)
    fc_jk = jnp.where(pair, cosine_cutoff(jnp.sqrt(r2jk), r_cutoff), 0.0)
    r2 = r * r
    radial = (r2[..., :, None] + r2[..., None, :] + r2jk)[..., None]            # [n, m, m, 1]
    # clipped at 0: rounding can push 1 + λ cos θ just below 0 (e.g. j = k), where x^ζ is NaN
    ang = jnp.maximum(1.0 + lambdas * cos[..., None], 0.0) ** zetas * 2.0 ** (1.0 - zetas)
    g = ang * jnp.exp(-etas * radial) * (fc[..., :, None] * fc[..., None, :] * fc_jk)[..., None]   # [n, m, m, G]
    onehot = jax.nn.one_hot(nbr_species, num_species) * mask[..., None]
    # ½ Σ_{j≠k} = Σ_{j<k}
    return 0.5 * jnp.einsum("nmkg,nms,nkt->nstg", g, onehot, onehot).reshape(dR.shape[0], -1)


def _default_radial(r_cutoff, count=8):
    centers = np.linspace(0.5 * r_cutoff, r_cutoff, count)
    spacing = centers[1] - centers[0]
    return np.full(count, 1.0 / (2 * spacing ** 2)), centers


def behler_parrinello(displacement_fn: Callable, r_cutoff: float, species=None, num_species: int = 1,
                      radial_etas=None, radial_centers=None,
                      angular_etas=(0.005,) * 8, angular_zetas=(1., 1., 2., 2., 4., 4., 16., 16.),
                      angular_lambdas=(-1., 1.) * 4, mlp_sizes: Sequence[int] = (30, 30)):
    """Behler-Parrinello energy ``E = Σ_i NN_{s_i}(G_i)``: a network per species on the
    particle's radial (G2) and angular (G4) symmetry functions, standardised by their
    mean and spread in the configuration given to ``init_fn``.

    Returns ``(init_fn, energy_fn)``; ``params = {"net": per-species MLP params (leading
    axis num_species), "shift": [S] per-atom energy offsets, "norm": feature mean/std}``.
    """
    inputs = _Inputs(displacement_fn, r_cutoff, species, num_species)
    if radial_etas is None or radial_centers is None:
        radial_etas, radial_centers = _default_radial(float(r_cutoff))
    etas, centers = np.asarray(radial_etas, float), np.asarray(radial_centers, float)
    a_eta, a_zeta, a_lam = (np.asarray(x, float) for x in (angular_etas, angular_zetas, angular_lambdas))
    if etas.shape != centers.shape or not (a_eta.shape == a_zeta.shape == a_lam.shape):
        raise ValueError("radial_etas/radial_centers and angular_etas/zetas/lambdas: each group must have "
                         f"equal lengths, got {etas.shape}, {centers.shape} and {a_eta.shape}, "
                         f"{a_zeta.shape}, {a_lam.shape}")
    net = MLP(tuple(mlp_sizes) + (1,))

    def features(R, neighbor, species, space_kwargs):
        dR, mask, nbr, s = inputs(R, neighbor, species, space_kwargs)
        sp = jnp.concatenate([s, jnp.zeros(1, s.dtype)])[nbr]                  # neighbour species
        g2 = radial_symmetry_functions(dR, mask, sp, num_species, r_cutoff, etas, centers)
        g4 = angular_symmetry_functions(dR, mask, sp, num_species, r_cutoff, a_eta, a_zeta, a_lam)
        return jnp.concatenate([g2, g4], axis=1), s

    def init_fn(key, R, neighbor=None, species=None, **space_kwargs):
        G, _ = features(R, neighbor, species, space_kwargs)
        keys = jax.random.split(key, num_species)
        params = jax.vmap(lambda k: net.init(k, G[:1]))(keys)
        norm = {"mean": jnp.mean(G, 0), "std": jnp.std(G, 0) + 1e-3 * (jnp.max(jnp.abs(G)) + 1e-6)}
        return {"net": params, "shift": jnp.zeros(num_species, G.dtype), "norm": norm}

    def energy_fn(params, R, neighbor=None, species=None, per_particle: bool = False, **space_kwargs):
        G, s = features(R, neighbor, species, space_kwargs)
        norm = jax.lax.stop_gradient(params["norm"])
        x = (G - norm["mean"]) / norm["std"]
        out = jax.vmap(lambda p: net.apply(p, x)[:, 0])(params["net"])            # [S, n]
        e = jnp.take_along_axis(out, s[None], 0)[0] + jnp.asarray(params["shift"])[s]
        return e if per_particle else jnp.sum(e)

    energy_fn.inputs = inputs
    return init_fn, energy_fn


# ---------------------------------------------------------------------------
# graph network: nodes = particles, edges = pairs within the cutoff


class GraphNetwork(nn.Module):
    """Message passing on distances (continuous-filter messages, as in SchNet; Schütt et
    al. 2017): node states from species embeddings; each round ``t``,
    ``h_i ← h_i + MLP_t([h_i, m_i, |v_i|², |T_i|²])`` with ``m_i = Σ_j W⁰_t(r_ij) ⊙ A_t h_j``
    and, when ``angular``, the first and second moments of the bond directions
    ``v_i = Σ_j (W¹_t ⊙ A_t h_j) û_ij``, ``T_i = Σ_j (W²_t ⊙ A_t h_j)(û_ij û_ijᵀ - I/3)``, whose
    squared norms are ``Σ_jk a_j a_k cos θ_jik`` and ``Σ_jk a_j a_k (cos² θ_jik - 1/3)``:
    bond angles at second order in ``cos θ`` (the form of a three-body term such as
    Stillinger-Weber's) while staying invariant.  Edge filters ``W`` are linear in a
    Gaussian radial basis times ``f_c(r_ij)``.  A per-node energy ``MLP_out(h_i)``."""

    num_species: int
    features: int = 32
    rounds: int = 3
    num_basis: int = 16
    r_cutoff: float = 5.0
    angular: bool = True

    @nn.compact
    def __call__(self, r, mask, nbr, species, unit=None):
        n, F = r.shape[0], self.features
        moments = 3 if self.angular else 1
        centers = jnp.linspace(0.0, self.r_cutoff, self.num_basis)
        width = self.r_cutoff / self.num_basis
        envelope = cosine_cutoff(r, self.r_cutoff) * mask                                  # [n, m]
        basis = jnp.exp(-((r[..., None] - centers) / width) ** 2) * envelope[..., None]    # [n, m, K]
        filters = nn.Dense(self.rounds * moments * F, name="filters")(basis) * envelope[..., None]
        if self.angular:   # û, and û ûᵀ - I/3 flattened to 9
            quad = (unit[..., :, None] * unit[..., None, :] - jnp.eye(3) / 3).reshape(*unit.shape[:2], 9)
        h = nn.Embed(self.num_species, F, name="embed")(species).astype(r.dtype)          # [n, F]
        for t in range(self.rounds):
            a = nn.Dense(F, use_bias=False, name=f"atom_{t}")(h)
            a = jnp.concatenate([a, jnp.zeros((1, F), a.dtype)])[nbr]                      # [n, m, F]
            w = filters[..., t * moments * F:(t + 1) * moments * F]
            inputs = [h, jnp.sum(w[..., :F] * a, axis=1)]                                  # [n, F]
            if self.angular:
                v = jnp.einsum("nmf,nmd->nfd", w[..., F:2 * F] * a, unit)                  # [n, F, 3]
                T = jnp.einsum("nmf,nmd->nfd", w[..., 2 * F:] * a, quad)                   # [n, F, 9]
                inputs += [jnp.sum(v * v, -1), jnp.sum(T * T, -1)]
            h = h + MLP((F, F), name=f"update_{t}")(jnp.concatenate(inputs, axis=1))
        return MLP((F, 1), name="readout")(h)[:, 0]


def graph_network(displacement_fn: Callable, r_cutoff: float, species=None, num_species: int = 1,
                  features: int = 32, rounds: int = 3, num_basis: int = 16, angular: bool = True):
    """Graph-network energy ``E = Σ_i ε(h_i) + shift_{s_i}`` (:class:`GraphNetwork`).

    Returns ``(init_fn, energy_fn)``; ``params = {"net": flax params, "shift": [S]}``.
    Invariant to translations, rotations, reflections and permutations by construction
    (distances, and with ``angular`` norms of direction moments, which are functions of
    distances and angles), so rotation/flip augmentation changes nothing for it.
    ``angular=False`` is distance-only message passing (3-D or any dimension)."""
    inputs = _Inputs(displacement_fn, r_cutoff, species, num_species)
    for name, v in (("features", features), ("rounds", rounds), ("num_basis", num_basis)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    net = GraphNetwork(num_species, features, rounds, num_basis, float(r_cutoff), bool(angular))

    def graph(R, neighbor, species, space_kwargs):
        if angular:
            three_body.check_positions(R, dim=3)
        dR, mask, nbr, s = inputs(R, neighbor, species, space_kwargs)
        r = three_body.distance(dR)
        return r, mask, nbr, s, (dR / r[..., None] if angular else None)

    def init_fn(key, R, neighbor=None, species=None, **space_kwargs):
        g = graph(R, neighbor, species, space_kwargs)
        return {"net": net.init(key, *g), "shift": jnp.zeros(num_species, R.dtype)}

    def energy_fn(params, R, neighbor=None, species=None, per_particle: bool = False, **space_kwargs):
        r, mask, nbr, s, unit = graph(R, neighbor, species, space_kwargs)
        e = net.apply(params["net"], r, mask, nbr, s, unit) + jnp.asarray(params["shift"])[s]
        return e if per_particle else jnp.sum(e)

    energy_fn.inputs = inputs
    return init_fn, energy_fn


behler_parrinello_neighbor_list = _neighbor_list_form(behler_parrinello)
graph_network_neighbor_list = _neighbor_list_form(graph_network)
