"""benchmarks/rigid_fidelity.py's mapping of brax 0.0.16's bodies (stored names) onto gambol's
scenes: one-to-one, and a state carried through brax's body order comes back unchanged."""
import pathlib
import sys

import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / 'benchmarks'))
import rigid_fidelity as rf                 # noqa: E402
from gambol.physics.rigid import default_qp    # noqa: E402

# the only gambol bodies brax 0.0.16's configs lack: halfcheetah's welded head (brax's torso
# carries it), grasp's static frame
ONLY_GAMBOL = {'ant': set(), 'halfcheetah': {'head'}, 'humanoid': set(), 'grasp': {'Torso'},
               'fetch': set()}


@pytest.mark.parametrize('name', sorted(rf.ENVS))
def test_brax_bodies_map_one_to_one(name):
    env = rf.ENVS[name]()
    bodies = [b.name for b in env.sys.spec.bodies]
    mapping = rf.body_map(name, bodies)
    mapped = mapping[mapping >= 0]
    assert sorted(mapped.tolist()) == list(range(len(rf.BRAX_V1_BODIES[name])))   # each brax body once
    assert {b for b, m in zip(bodies, mapping) if m < 0} == ONLY_GAMBOL[name]


@pytest.mark.parametrize('name', ['halfcheetah', 'grasp'])
def test_state_through_brax_order_comes_back(name):
    """gambol's pose (moved and spun) in brax's body order, mapped back: the same pose, the
    head re-attached to the torso as welded, grasp's frame where it rests."""
    env = rf.ENVS[name]()
    sys_ = env.sys
    rest = default_qp(sys_)
    moving = (sys_.inv_mass > 0)[:, None]
    qp = rest.replace(vel=jnp.where(moving, jnp.array([0.5, 0.0, -0.2]) * sys_.free_position, 0.0),
                      ang=jnp.where(moving, jnp.array([0.0, 0.3, 0.0]) * sys_.free_rotation, 0.0))
    mapping = rf.body_map(name, [b.name for b in sys_.spec.bodies])
    order = np.argsort(np.where(mapping >= 0, mapping, 10 ** 6))[:np.sum(mapping >= 0)]
    brax = {k: np.asarray(getattr(qp, k))[order][None] for k in ('pos', 'rot', 'vel', 'ang')}
    back = rf.to_gambol(sys_, mapping, brax)
    for k in ('pos', 'rot'):
        np.testing.assert_allclose(np.asarray(getattr(back, k))[0], np.asarray(getattr(qp, k)), atol=1e-6)
    # a welded body moves with its parent: v = v_parent + ω × r
    for i, m in enumerate(mapping):
        if m < 0 and sys_.inv_mass[i] > 0:
            parent = next(g.parent[j] for g in sys_.joints for j in range(len(g.names)) if g.child[j] == i)
            r = qp.pos[i] - qp.pos[parent]
            np.testing.assert_allclose(back.vel[0, i], qp.vel[parent] + jnp.cross(qp.ang[parent], r), atol=1e-6)
