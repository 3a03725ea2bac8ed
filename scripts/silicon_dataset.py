"""Diamond-silicon configurations with Stillinger-Weber energies and forces, sampled from
NVT Langevin runs at several temperatures: the stand-in for the DFT data of the JAX MD
paper's section 4.1 (which is not available offline).

Units: eV, Å, amu; time in sqrt(amu Å² / eV) = 10.18 fs.  Each temperature starts from the
perfect 64-atom crystal (a = 5.431 Å) in its periodic box, equilibrates, then keeps one
configuration every ``--every`` steps.  Saved (npz): ``R [N, 64, 3]``, ``E [N]`` (eV),
``F [N, 64, 3]`` (eV/Å), ``T [N]`` (K), ``box`` (Å, cubic side), ``species [64]``.

  .venv/bin/python scripts/silicon_dataset.py --out outputs/silicon_sw.npz
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

KB = 8.617333e-5          # eV / K
MASS_SI = 28.0855         # amu
FS = 1.0 / 10.1805        # one femtosecond in sqrt(amu Å² / eV)


def sample(temperatures, samples_per_temperature: int, every: int, equilibrate: int, cells: int = 2,
           seed: int = 0, dt_fs: float = 1.0, gamma_per_ps: float = 5.0):
    from gambol.physics import partition, quantity, simulate, space, three_body

    R0, L = three_body.diamond_lattice(cells)
    R0 = jnp.asarray(R0)
    disp, shift = space.periodic(L)
    neighbor_fn, energy_fn = three_body.stillinger_weber_neighbor_list(disp, L, dr_threshold=0.6)
    energy_and_force = jax.jit(lambda R, nb: (energy_fn(R, nb), quantity.force(energy_fn)(R, neighbor=nb)))
    dt, gamma = dt_fs * FS, gamma_per_ps * 1e-3 / FS
    out = {k: [] for k in ("R", "E", "F", "T")}
    key = jax.random.PRNGKey(seed)
    for T in temperatures:
        kT = KB * T
        init, apply = simulate.nvt_langevin(energy_fn, shift, dt=dt, kT=kT, gamma=gamma)
        key, k = jax.random.split(key)
        nbrs = neighbor_fn.allocate(R0)
        state = init(k, R0, mass=MASS_SI, neighbor=nbrs)

        def chunk(carry, nbrs, steps):
            def body(c, _):
                s, nb = c
                nb = nb.update(s.position)
                return (apply(s, neighbor=nb), nb), None
            return jax.lax.scan(body, (carry, nbrs), None, length=steps)[0]

        run = jax.jit(chunk, static_argnums=2)
        state, nbrs = partition.run_with_reallocation(lambda s, nb: run(s, nb, equilibrate), state, nbrs,
                                                      neighbor_fn, position_fn=lambda s: s.position)
        for _ in range(samples_per_temperature):
            state, nbrs = partition.run_with_reallocation(lambda s, nb: run(s, nb, every), state, nbrs,
                                                          neighbor_fn, position_fn=lambda s: s.position)
            out["R"].append(np.asarray(state.position))
            E, F = energy_and_force(state.position, nbrs)
            out["E"].append(float(E))
            out["F"].append(np.asarray(F))
            out["T"].append(T)
        kT_measured = float(quantity.temperature(momentum=state.momentum, mass=MASS_SI)) / KB
        print(f"T = {T:6.0f} K: last kinetic temperature {kT_measured:7.1f} K, "
              f"E/atom = {out['E'][-1] / len(R0):.4f} eV", flush=True)
    data = {k: np.asarray(v) for k, v in out.items()}
    data["box"] = np.float64(L)
    data["species"] = np.zeros(len(R0), np.int32)
    return data


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="outputs/silicon_sw.npz")
    ap.add_argument("--temperatures", default="300,600,900,1200,1500", help="K, comma-separated")
    ap.add_argument("--samples", type=int, default=400, help="configurations per temperature")
    ap.add_argument("--every", type=int, default=25, help="steps between kept configurations")
    ap.add_argument("--equilibrate", type=int, default=2000, help="steps before the first kept one")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    t0 = time.time()
    temps = [float(t) for t in args.temperatures.split(",")]
    data = sample(temps, args.samples, args.every, args.equilibrate, seed=args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, **data)
    print(f"wrote {args.out}: {len(data['E'])} configurations in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
