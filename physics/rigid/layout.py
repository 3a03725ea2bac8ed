"""The switch between the public layout and the engine's internal one.

Public: `QP` arrays [..., bodies, 3 or 4] and `System` arrays as built
(`[bodies]`, `[bodies, 3]`, `[joints, dof, 2]`, ...). Internal (`component_first.py`):
components first and one trailing axis of environments, so that XLA:CPU's
loops run over the environments: `QP` arrays [3 or 4, bodies, envs]; system
arrays shaped to broadcast against them ([bodies, 1], [3, bodies, 1],
[2, dof, joints, 1], ...). The conversions are a few transposes per step,
outside the substep loop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gambol.physics.rigid.qp import QP
from gambol.physics.rigid.component_first import as_literal


def _host(x):
    """x as a numpy array when its value is known while tracing (a system
    built outside the trace: its conversions then stay constants of the
    program), else x (a traced array)."""
    try:
        return np.asarray(x)
    except jax.errors.TracerArrayConversionError:
        return x


def _vectors(x):
    """[m, k] -> [k, m, 1]"""
    x = _host(x)
    return (np if isinstance(x, np.ndarray) else jnp).moveaxis(x, -1, 0)[..., None]


def _scalars(x):
    """[m] -> [m, 1]"""
    return _host(x)[..., None]


def internal_qp(qp: QP) -> QP:
    """[bodies, k] -> [k, bodies, 1] (one environment)."""
    return QP(*(_vectors(x) for x in (qp.pos, qp.rot, qp.vel, qp.ang)))


def internal_system(sys):
    """`sys` with every array in the internal broadcast shapes: the one place
    where a concrete system's arrays become numpy constants (and arrays of one
    repeated value literals, `component_first.as_literal`); downstream, a numpy array means a
    constant of the program and a jax array a traced value."""
    joints = tuple(g.replace(
        parent_offset=_vectors(g.parent_offset), child_offset=_vectors(g.child_offset),
        frame=_vectors(g.frame), stiffness=as_literal(_scalars(g.stiffness)),
        spring_damping=as_literal(_scalars(g.spring_damping)),
        angular_damping=as_literal(_scalars(g.angular_damping)),
        limit_strength=as_literal(_scalars(g.limit_strength)),
        limit_damping=as_literal(_scalars(g.limit_damping)),
        limits=_vectors(_host(g.limits).swapaxes(0, 1)),                    # [2, dof, J, 1]
        torque_strength=as_literal(_scalars(g.torque_strength)),
        angle_strength=as_literal(_scalars(g.angle_strength)))
        for g in sys.joints)
    return sys.replace(
        mass=_scalars(sys.mass), inertia=as_literal(_vectors(sys.inertia)),
        free_position=_vectors(sys.free_position), free_rotation=_vectors(sys.free_rotation),
        inv_mass=_scalars(sys.inv_mass), inv_inertia=_vectors(sys.inv_inertia),
        collider_position=_vectors(sys.collider_position),
        collider_rotation=_vectors(sys.collider_rotation),
        collider_radius=_scalars(sys.collider_radius),
        collider_half_length=_scalars(sys.collider_half_length),
        collider_halfsize=_vectors(sys.collider_halfsize),
        gravity=_host(sys.gravity)[:, None, None], joints=joints)
