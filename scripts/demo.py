"""The main job (for now): a 2-D Lennard-Jones fluid quenched into droplets.

2,000 particles in a periodic box, a Dense neighbour list with automatic reallocation,
Langevin dynamics at a low temperature (the gas condenses), then FIRE to the nearest
energy minimum.  Writes ``<out>/particles.png`` (snapshots, energy and temperature).

    python scripts/demo.py --out outputs/demo [--n 2000] [--steps 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gambol.physics import energy, minimize, partition, quantity, simulate, space  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/demo")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()

    density, kT, dt, chunk = 0.35, 0.45, 0.005, 200
    box = quantity.box_size_at_number_density(args.n, density, 2)
    displacement, shift = space.periodic(box)
    neighbor_fn, energy_fn = energy.lennard_jones_neighbor_list(displacement, box, r_onset=2.0, r_cutoff=2.5,
                                                                dr_threshold=0.4)
    key, init_key = jax.random.split(jax.random.PRNGKey(args.seed))
    R = jax.random.uniform(key, (args.n, 2), maxval=box)
    # remove overlaps of the random start with a few soft-sphere steps
    soft = energy.soft_sphere_pair(displacement, sigma=1.0)
    _, gd = minimize.gradient_descent(soft, shift, step_size=0.05)
    R = jax.jit(lambda r: jax.lax.fori_loop(0, 200, lambda i, r: gd(r), r))(R)

    init_fn, apply_fn = simulate.nvt_langevin(energy_fn, shift, dt=dt, kT=kT, gamma=0.5)
    nbrs = neighbor_fn.allocate(R)
    state = init_fn(init_key, R, kT=kT, neighbor=nbrs)

    @jax.jit
    def run_chunk(state, nbrs):
        def body(carry, _):
            s, nb = carry
            nb = nb.update(s.position)
            s = apply_fn(s, neighbor=nb)
            e = energy_fn(s.position, nb) / args.n
            t = quantity.temperature(momentum=s.momentum, mass=s.mass)
            return (s, nb), (e, t)
        (state, nbrs), trace = jax.lax.scan(body, (state, nbrs), None, length=chunk)
        return (state, trace), nbrs

    snapshots, energies, temps = [np.asarray(state.position)], [], []
    for i in range(args.steps // chunk):
        (state, (e, t)), nbrs = partition.run_with_reallocation(
            run_chunk, state, nbrs, neighbor_fn, position_fn=lambda s: s.position)
        energies.append(np.asarray(e))
        temps.append(np.asarray(t))
        if (i + 1) % (args.steps // chunk // 2) == 0:
            snapshots.append(np.asarray(state.position))
        print(f"  step {(i + 1) * chunk:5d}  E/N {float(e[-1]):+.3f}  kT {float(t[-1]):.3f}  "
              f"rebuilds {int(nbrs.rebuilds)}", flush=True)

    # quench to the nearest minimum with FIRE
    fire_init, fire_apply = minimize.fire_descent(energy_fn, shift, dt_start=0.005, dt_max=0.05)
    nbrs = neighbor_fn.allocate(state.position)
    fire = fire_init(state.position, neighbor=nbrs)

    @jax.jit
    def fire_chunk(fire, nbrs):
        def body(carry, _):
            f, nb = carry
            nb = nb.update(f.position)
            return (fire_apply(f, neighbor=nb), nb), None
        return jax.lax.scan(body, (fire, nbrs), None, length=500)[0]

    fire, nbrs = partition.run_with_reallocation(fire_chunk, fire, nbrs, neighbor_fn,
                                                 position_fn=lambda f: f.position)
    e_min = float(energy_fn(fire.position, nbrs)) / args.n
    max_force = float(jnp.max(jnp.abs(fire.force)))
    snapshots.append(np.asarray(fire.position))

    energies, temps = np.concatenate(energies), np.concatenate(temps)
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.4))
    titles = ["start", f"t = {args.steps * dt / 2:g}", f"t = {args.steps * dt:g}", "FIRE minimum"]
    for ax, pos, title in zip(axes, snapshots, titles):
        ax.scatter(pos[:, 0], pos[:, 1], s=4, c=snapshots[0][:, 0], cmap="viridis")  # colour: start x
        ax.set(xlim=(0, box), ylim=(0, box), aspect="equal", title=title, xticks=[], yticks=[])
    time_axis = np.arange(1, len(energies) + 1) * dt
    axes[4].plot(time_axis, energies, label="E/N")
    axes[4].plot(time_axis, temps, label="kT")
    axes[4].axhline(kT, ls=":", c="gray")
    axes[4].set(xlabel="time", title="energy and temperature")
    axes[4].legend()
    fig.suptitle(f"gambol: {args.n} Lennard-Jones particles condensing (Langevin kT={kT}), then FIRE")
    fig.tight_layout()
    path = os.path.join(args.out, "particles.png")
    fig.savefig(path, dpi=90)
    summary = dict(picture=path, n=args.n, steps=args.steps, final_energy_per_particle=float(energies[-1]),
                   fire_energy_per_particle=e_min, fire_max_force=max_force,
                   mean_kT_last_quarter=float(temps[-len(temps) // 4:].mean()),
                   neighbor_list_capacity=nbrs.capacity, seconds=round(time.time() - t_start, 1))
    print(json.dumps(summary))
    print(f"wrote {path}")
    return summary


if __name__ == "__main__":
    main()
