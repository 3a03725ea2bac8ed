"""Train a neural energy (graph network or Behler-Parrinello) on Stillinger-Weber silicon
data (scripts/silicon_dataset.py) with optax, as in the JAX MD paper's section 4.1:
loss = MSE of energies + MSE of forces (forces = -grad E through the network), held-out
test set, energy RMSE (meV/atom), distribution of the cosine between predicted and reference
forces, parity and force-cosine plots.

CPU-sized choices (the paper's in brackets): GNN Adam 1e-3 with cosine decay over the
budget, batch 32
[Adam 1e-3, batch 128, 160 epochs]; BP momentum 0.9 at lr 5e-5 would need the paper's 800
epochs, so BP here uses Adam 1e-3 too [momentum, lr 5e-5, batch 10]; training stops at a
wall-clock budget (--minutes).  The energy term is per atom and weighted
(--energy-weight, default 1000 (eV/atom)⁻² against 1 (eV/Å)⁻² for forces).
Augmentation (GNN): every batch is mapped by a random element of the cube's symmetry group
(axis permutations and flips: the rotations and reflections that keep the periodic cubic
box); the network is invariant by construction, so this only checks that on the way.

  .venv/bin/python scripts/train_neural_energy.py --data outputs/silicon_sw.npz \
      --model gnn --minutes 25 --out outputs/neural_gnn
Writes params (msgpack), metrics JSON and plots into --out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization


def cube_symmetries() -> np.ndarray:
    """The 48 orthogonal matrices that map the cube onto itself ``[48, 3, 3]``."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            Q = np.zeros((3, 3))
            Q[np.arange(3), perm] = signs
            out.append(Q)
    return np.asarray(out)


def build(model: str, box: float, args):
    from gambol.physics import neural, space
    disp, _ = space.periodic(box)
    if model == "gnn":
        neighbor_fn, init_fn, energy_fn = neural.graph_network_neighbor_list(
            disp, box, args.cutoff, dr_threshold=0.0, capacity_multiplier=1.3, features=args.features,
            rounds=args.rounds, angular=not args.distance_only)
    else:
        neighbor_fn, init_fn, energy_fn = neural.behler_parrinello_neighbor_list(
            disp, box, args.cutoff, dr_threshold=0.0, capacity_multiplier=1.3)
    return neighbor_fn, init_fn, energy_fn


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="outputs/silicon_sw.npz")
    ap.add_argument("--model", choices=["gnn", "bp"], default="gnn")
    ap.add_argument("--out", default=None)
    ap.add_argument("--minutes", type=float, default=25.0, help="wall-clock training budget")
    ap.add_argument("--max-epochs", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--cutoff", type=float, default=None, help="Å (gnn 4.0, bp 3.8)")
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--distance-only", action="store_true", help="gnn without the angular moments")
    ap.add_argument("--energy-weight", type=float, default=1000.0)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.cutoff = args.cutoff or (4.0 if args.model == "gnn" else 3.8)
    out = args.out or f"outputs/neural_{args.model}"
    os.makedirs(out, exist_ok=True)
    t_start = time.time()
    load_start = os.getloadavg()

    data = np.load(args.data)
    R_all, E_all, F_all = (jnp.asarray(data[k], jnp.float32) for k in ("R", "E", "F"))
    box = float(data["box"])
    N, n = R_all.shape[:2]
    rng = np.random.RandomState(args.seed)
    order = rng.permutation(N)
    n_test = int(round(args.test_fraction * N))
    test, train = order[:n_test], order[n_test:]

    neighbor_fn, init_fn, energy_fn = build(args.model, box, args)
    nbrs0 = neighbor_fn.allocate(R_all[0])
    # every configuration's list, built once with the first one's capacity (dataset is fixed)
    idx_all = jax.jit(jax.vmap(lambda R: neighbor_fn.rebuild(R, nbrs0).idx))(R_all)
    errs = jax.jit(jax.vmap(lambda R: neighbor_fn.rebuild(R, nbrs0).error))(R_all)
    if int(jnp.max(errs)):
        nbrs0 = neighbor_fn.allocate(R_all[0], extra_capacity=8)
        idx_all = jax.jit(jax.vmap(lambda R: neighbor_fn.rebuild(R, nbrs0).idx))(R_all)
        errs = jax.jit(jax.vmap(lambda R: neighbor_fn.rebuild(R, nbrs0).error))(R_all)
        assert not int(jnp.max(errs)), "neighbour lists overflow"

    def nbrs_of(R, idx):
        return nbrs0.replace(idx=idx, reference_position=R)

    e_ref = float(jnp.mean(E_all[train]) / n)             # mean per-atom energy, the starting shift
    params = init_fn(jax.random.PRNGKey(args.seed), R_all[0], neighbor=nbrs0)
    params["shift"] = jnp.full_like(params["shift"], e_ref)

    def predict(params, R, idx):
        nb = nbrs_of(R, idx)
        E, G = jax.value_and_grad(energy_fn, argnums=1)(params, R, neighbor=nb)
        return E, -G

    def loss_fn(params, R, idx, E, F):
        Ep, Fp = jax.vmap(predict, (None, 0, 0))(params, R, idx)
        le = jnp.mean(((Ep - E) / n) ** 2)
        lf = jnp.mean((Fp - F) ** 2)
        return args.energy_weight * le + lf, (le, lf)

    steps_per_epoch = len(train) // args.batch
    total_steps = steps_per_epoch * args.max_epochs
    # cosine decay over the run's progress: steps done or budget spent, whichever is further
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=args.lr)
    opt_state = opt.init(params)
    symmetries = jnp.asarray(cube_symmetries(), jnp.float32)

    @jax.jit
    def train_step(params, opt_state, key, R, idx, E, F):
        if args.model == "gnn":   # rotation/flip augmentation by the cube's symmetries
            Q = symmetries[jax.random.randint(key, (R.shape[0],), 0, len(symmetries))]
            R = jnp.mod(jnp.einsum("bij,bnj->bni", Q, R), box)
            F = jnp.einsum("bij,bnj->bni", Q, F)
        (loss, (le, lf)), g = jax.value_and_grad(loss_fn, has_aux=True)(params, R, idx, E, F)
        updates, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, le, lf

    evaluate = jax.jit(jax.vmap(predict, (None, 0, 0)))

    def evaluate_all(params, sel):
        Es, Fs = [], []
        for k in range(0, len(sel), 64):
            s = sel[k:k + 64]
            Ep, Fp = evaluate(params, R_all[s], idx_all[s])
            Es.append(np.asarray(Ep)), Fs.append(np.asarray(Fp))
        return np.concatenate(Es), np.concatenate(Fs)

    key = jax.random.PRNGKey(args.seed + 1)
    history, step, epoch = [], 0, 0
    budget = 60 * args.minutes
    t_train = time.time()
    while epoch < args.max_epochs and time.time() - t_train < budget:
        perm = rng.permutation(train)
        for b in range(steps_per_epoch):
            sel = perm[b * args.batch:(b + 1) * args.batch]
            key, k = jax.random.split(key)
            progress = min(1.0, max(step / total_steps, (time.time() - t_train) / budget))
            opt_state.hyperparams["learning_rate"] = jnp.asarray(
                args.lr * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * progress))), jnp.float32)
            params, opt_state, loss, le, lf = train_step(params, opt_state, k, R_all[sel], idx_all[sel],
                                                         E_all[sel], F_all[sel])
            step += 1
            if time.time() - t_train > budget:
                break
        epoch += 1
        history.append(dict(epoch=epoch, step=step, seconds=round(time.time() - t_train, 1),
                            loss=float(loss), energy_rmse_mev=1e3 * float(np.sqrt(le)),
                            force_rmse=float(np.sqrt(lf))))
        if epoch % 5 == 0 or epoch == 1:
            print(json.dumps(history[-1]), flush=True)
    train_seconds = time.time() - t_train

    Ep, Fp = evaluate_all(params, test)
    E, F = np.asarray(E_all[test]), np.asarray(F_all[test])
    e_rmse = 1e3 * float(np.sqrt(np.mean(((Ep - E) / n) ** 2)))
    f_rmse = float(np.sqrt(np.mean((Fp - F) ** 2)))
    cos = np.sum(Fp * F, -1) / (np.linalg.norm(Fp, axis=-1) * np.linalg.norm(F, axis=-1) + 1e-12)
    cos = cos.reshape(-1)
    Ep_tr, _ = evaluate_all(params, train[:512])
    e_rmse_train = 1e3 * float(np.sqrt(np.mean(((Ep_tr - np.asarray(E_all[train[:512]])) / n) ** 2)))
    metrics = dict(model=args.model, data=args.data, configurations=int(N), atoms=int(n), train=len(train),
                   test=len(test), cutoff=args.cutoff, angular=not args.distance_only, features=args.features, rounds=args.rounds,
                   batch=args.batch, lr=args.lr, energy_weight=args.energy_weight, epochs=epoch, steps=step,
                   train_seconds=round(train_seconds, 1), budget_minutes=args.minutes,
                   params=int(sum(x.size for x in jax.tree.leaves(params))),
                   test_energy_rmse_mev_per_atom=round(e_rmse, 3),
                   train_energy_rmse_mev_per_atom=round(e_rmse_train, 3),
                   test_force_rmse_ev_per_a=round(f_rmse, 4),
                   force_cosine_median=round(float(np.median(cos)), 4),
                   force_cosine_p10=round(float(np.percentile(cos, 10)), 4),
                   force_cosine_p1=round(float(np.percentile(cos, 1)), 4),
                   reference_energy_std_mev_per_atom=round(1e3 * float(np.std(E / n)), 2),
                   load_avg_start=list(load_start), load_avg_end=list(os.getloadavg()),
                   nproc=len(os.sched_getaffinity(0)), jax=jax.__version__,
                   total_seconds=round(time.time() - t_start, 1))
    print(json.dumps(metrics), flush=True)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(dict(metrics=metrics, history=history), f, indent=1)
    with open(os.path.join(out, "params.msgpack"), "wb") as f:
        f.write(serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))
    plot(out, args.model, E / n, Ep / n, F, Fp, cos, metrics)


def plot(out, model, e, ep, F, Fp, cos, metrics):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(14, 4.2))
    ax[0].plot(e, ep, ".", ms=3)
    lim = [min(e.min(), ep.min()), max(e.max(), ep.max())]
    ax[0].plot(lim, lim, "k--", lw=0.8)
    ax[0].set(xlabel="SW energy (eV/atom)", ylabel=f"{model} energy (eV/atom)",
              title=f"energy: RMSE {metrics['test_energy_rmse_mev_per_atom']:.2f} meV/atom")
    ax[1].plot(F.reshape(-1), Fp.reshape(-1), ".", ms=1, alpha=0.3)
    lim = [F.min(), F.max()]
    ax[1].plot(lim, lim, "k--", lw=0.8)
    ax[1].set(xlabel="SW force component (eV/Å)", ylabel=f"{model} force (eV/Å)",
              title=f"forces: RMSE {metrics['test_force_rmse_ev_per_a']:.3f} eV/Å")
    ax[2].hist(cos, bins=np.linspace(min(0.8, cos.min()), 1.0, 60))
    ax[2].set(xlabel="cos(F_pred, F_SW)", ylabel="atoms", yscale="log",
              title=f"force cosine: median {metrics['force_cosine_median']:.4f}")
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"parity_{model}.png"), dpi=110)


if __name__ == "__main__":
    main()
